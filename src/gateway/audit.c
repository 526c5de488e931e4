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
#include <sys/stat.h>
#include <openssl/crypto.h>
#include "domicile/auditlog.h"
#include "domicile/rules_record.h"
#include "gateway/audit.h"
#include "gateway/metrics.h"
#include "util/json.h"

#define LINE_MAX_BYTES 4096
#define OUT_BYTES (256 * 1024) /* the writer's batch of sealed lines */
#define OUT_MARKS 4096         /* lines per batch: a sealed line is never shorter than 64 bytes */

struct ring {
    /* the producer's and the consumer's words on separate cache lines */
    _Alignas(64) size_t head; /* written by the producer */
    uint64_t dropped;         /* producer: ring full */
    _Alignas(64) size_t tail; /* written by the writer */
    char *buf;
    size_t cap; /* power of two */
};

/* one sealed line in the writer's batch: where it ends and the chain after it */
struct mark {
    size_t end;
    dom_auditlog_link_t link;
    int request;
};

struct dom__audit {
    dom__audit_options_t opts;
    char *path, *state_path, *instance;
    unsigned char *key;
    dom_auditlog_key_t checkpoint_key;
    int has_checkpoint_key;
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
    /* the chain, the writer's alone: `disk` is the last line on disk, `link` the last one sealed */
    dom_auditlog_link_t disk, link;
    int torn;                  /* a write stopped inside a line: the next write starts a new one */
    uint64_t since_checkpoint; /* lines sealed since the last checkpoint */
    int64_t checkpoint_at_ms;  /* monotonic time of the last checkpoint */
    int state_fd;              /* the chain's state file, -1: none */
    int state_failed;          /* a write of it failed (reported once) */
    char *out;                 /* the batch of sealed lines (OUT_BYTES) */
    size_t out_len, n_marks;
    struct mark *marks;
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

/* "time":"2026-01-01T00:00:00.123456Z" */
static void put_time(dom__json_t *j, int64_t time_us)
{
    time_t secs = (time_t)(time_us / 1000000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    dom__json_rawf(j, "\"time\":\"%04d-%02d-%02dT%02d:%02d:%02d.%06dZ\"", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                   tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(time_us % 1000000));
}

size_t dom__audit_format(const dom__audit_options_t *opts, const dom__audit_record_t *r, char *buf, size_t buflen)
{
    dom__json_t o = dom__json_fixed(buf, buflen);
    dom__json_lit(&o, "{");
    put_time(&o, r->time_us);
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
    if (r->identity_removed != 0) {
        dom__json_lit(&o, ",\"identity_removed\":");
        dom__json_u64(&o, r->identity_removed);
    }
    if (r->consent != NULL) {
        const dom__audit_consent_t *c = r->consent;
        dom__json_lit(&o, ",\"consent\":{\"needed\":");
        dom__json_bool(&o, c->needed);
        put_str(&o, "mode", c->mode);
        put_str(&o, "status", c->status);
        put_str(&o, "token", c->token_hash[0] != '\0' ? c->token_hash : NULL);
        put_str(&o, "scopes", c->scopes);
        dom__json_rawf(&o, ",\"issued_at\":%lld}", (long long)c->issued_at);
    } else {
        dom__json_lit(&o, ",\"consent\":null");
    }
    if (r->n_joined != 0) {
        dom__json_lit(&o, ",\"joined\":[");
        for (size_t i = 0; i < r->n_joined; ++i) {
            dom__json_lit(&o, i == 0 ? "{" : ",{");
            dom__json_lit(&o, "\"jurisdiction\":");
            dom__json_str(&o, r->joined[i]->name);
            put_str(&o, "rule_version", r->joined[i]->version);
            put_str(&o, "source", dom_jurisdiction_source_name(r->joined_source[i]));
            dom__json_lit(&o, "}");
        }
        dom__json_lit(&o, "]");
    }
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

static int open_file(const char *path)
{
    return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Remembers the chain's position beside the log: a restart after the file was rotated away links to it. */
static void save_state(dom__audit_t *a)
{
    char rec[DOM_AUDITLOG_STATE_LEN + 1];
    if (a->state_fd < 0)
        return;
    dom_auditlog_state_format(&a->disk, rec);
    /* one small write at offset 0 of a fixed-size record: never half old, half new on a local file system */
    if (pwrite(a->state_fd, rec, DOM_AUDITLOG_STATE_LEN, 0) != DOM_AUDITLOG_STATE_LEN && !a->state_failed) {
        /* the log itself is fine: say it once; a restart after a rotation may then start a new chain (verify names it)
         */
        a->state_failed = 1;
        fprintf(stderr, "domicile: audit chain state %s: cannot write: %s\n", a->state_path, strerror(errno));
    }
}

/*
 * Writes the batch of sealed lines. What is not (wholly) on disk is dropped and counted, and the chain goes back
 * to the last line that is: the next line's prev names a line a reader can find.
 */
static void flush_out(dom__audit_t *a)
{
    if (a->out_len == 0)
        return;
    size_t done = 0, lost = 0, written = 0;
    if (a->torn && a->fd >= 0 && write(a->fd, "\n", 1) == 1)
        a->torn = 0;
    while (done < a->out_len && a->fd >= 0 && !a->torn) {
        ssize_t w = write(a->fd, a->out + done, a->out_len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        done += (size_t)w; /* a short write (disk nearly full): go on with the rest */
    }
    size_t i = 0;
    for (; i < a->n_marks && a->marks[i].end <= done; ++i) {
        written += a->marks[i].request;
        a->disk = a->marks[i].link;
    }
    if (i < a->n_marks) {
        a->torn = done > (i > 0 ? a->marks[i - 1].end : 0);
        for (size_t k = i; k < a->n_marks; ++k)
            lost += a->marks[k].request;
        a->link = a->disk;
        DOM__COUNT_ADD(&a->write_dropped, lost);
        __atomic_store_n(&a->ok, 0, __ATOMIC_RELAXED);
    } else {
        __atomic_store_n(&a->ok, 1, __ATOMIC_RELAXED);
    }
    DOM__COUNT_ADD(&a->lines, written);
    a->out_len = 0;
    a->n_marks = 0;
    if (i > 0)
        save_state(a);
}

/* Seals one line (body: a JSON object without its closing brace) into the batch. */
static void emit(dom__audit_t *a, const char *body, size_t len, int signed_line, int request)
{
    if (a->fd < 0) {
        if (request)
            DOM__COUNT(&a->write_dropped);
        return;
    }
    if (a->out_len + len + DOM_AUDITLOG_SEAL_MAX > OUT_BYTES || a->n_marks == OUT_MARKS)
        flush_out(a);
    size_t n = dom_auditlog_seal(&a->link, body, len, signed_line ? &a->checkpoint_key : NULL, a->out + a->out_len,
                                 OUT_BYTES - a->out_len);
    if (n == 0) {
        if (request)
            DOM__COUNT(&a->write_dropped);
        return;
    }
    a->out_len += n;
    a->marks[a->n_marks++] = (struct mark){a->out_len, a->link, request};
    ++a->since_checkpoint;
}

/* A signed checkpoint: the chain head under the audit key, and how many lines this process dropped so far. */
static void checkpoint(dom__audit_t *a)
{
    if (!a->has_checkpoint_key || a->since_checkpoint == 0)
        return;
    char body[512];
    dom__json_t j = dom__json_fixed(body, sizeof(body));
    uint64_t dropped;
    dom__audit_stats(a, NULL, &dropped, NULL, NULL);
    dom__json_lit(&j, "{\"type\":\"checkpoint\",");
    put_time(&j, wall_us());
    put_str(&j, "instance", a->instance);
    dom__json_rawf(&j, ",\"lines\":%llu,\"dropped\":%llu", (unsigned long long)a->since_checkpoint,
                   (unsigned long long)dropped);
    if (dom__json_failed(&j))
        return;
    emit(a, body, j.len, 1, 0);
    a->since_checkpoint = 0;
    a->checkpoint_at_ms = now_ms();
}

/* The first line a writer puts in a file: why it (re)opened and where the chain comes from. */
static void open_line(dom__audit_t *a, const char *reason, const char *chain_from, const dom_auditlog_link_t *file)
{
    char body[512];
    dom__json_t j = dom__json_fixed(body, sizeof(body));
    dom__json_lit(&j, "{\"type\":\"open\",");
    put_time(&j, wall_us());
    put_str(&j, "instance", a->instance);
    put_str(&j, "reason", reason);
    put_str(&j, "chain_from", chain_from);
    dom__json_rawf(&j, ",\"pid\":%ld", (long)getpid());
    if (file != NULL) /* the file ends before the chain's state: lines were removed from its end */
        dom__json_rawf(&j, ",\"file_ends_at_seq\":%llu", (unsigned long long)file->seq);
    if (!dom__json_failed(&j))
        emit(a, body, j.len, 0, 0);
}

/* Seals and batches every line one ring holds. */
static void drain_ring(dom__audit_t *a, struct ring *ring)
{
    size_t head = __atomic_load_n(&ring->head, __ATOMIC_ACQUIRE), tail = ring->tail;
    char line[LINE_MAX_BYTES];
    while (tail != head) {
        /* one line, copied out of the ring (it may wrap); producers only ever queue whole lines */
        size_t len = 0;
        while (tail != head && len < sizeof(line)) {
            char c = ring->buf[tail & (ring->cap - 1)];
            line[len++] = c;
            ++tail;
            if (c == '\n')
                break;
        }
        if (len >= 2 && line[len - 1] == '\n' && line[len - 2] == '}')
            emit(a, line, len - 2, 0, 1);
        else
            DOM__COUNT(&a->write_dropped);
        if (a->has_checkpoint_key && a->opts.checkpoint_lines && a->since_checkpoint >= a->opts.checkpoint_lines)
            checkpoint(a);
    }
    __atomic_store_n(&ring->tail, head, __ATOMIC_RELEASE);
}

static void drain_all(dom__audit_t *a)
{
    for (size_t i = 0; i < a->n_rings; ++i)
        drain_ring(a, &a->rings[i]);
    if (a->has_checkpoint_key && a->since_checkpoint > 0 && a->opts.checkpoint_ms &&
        now_ms() - a->checkpoint_at_ms >= (int64_t)a->opts.checkpoint_ms)
        checkpoint(a);
    flush_out(a);
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
            /* what was logged before the rotation goes into the old file, sealed by a checkpoint; then switch */
            for (size_t i = 0; i < a->n_rings; ++i)
                drain_ring(a, &a->rings[i]);
            checkpoint(a);
            flush_out(a);
            int fd = open_file(a->path);
            if (a->fd >= 0)
                close(a->fd);
            a->fd = fd;
            a->torn = 0;
            __atomic_store_n(&a->ok, fd >= 0, __ATOMIC_RELAXED);
            DOM__COUNT(&a->reopens);
            if (fd < 0)
                fprintf(stderr, "domicile: audit log %s: cannot reopen: %s\n", a->path, strerror(errno));
            /* this process wrote the chain's last line: the new file goes on from it, whatever is at the path now */
            open_line(a, "reopen", "memory", NULL);
        }
        drain_all(a);
        if (stop) {
            checkpoint(a);
            flush_out(a);
            return NULL;
        }
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

/*
 * Where the chain goes on from when the writer starts: the later of the file's last line and the state file. The
 * state file wins when it is further on, so lines cut from the end of the file while the gateway was down, or a
 * file rotated away, show as a gap rather than a new beginning. Neither: the chain starts (seq 1, prev of zeros).
 */
static void resume_chain(dom__audit_t *a, int *partial)
{
    dom_auditlog_link_t file, state;
    int have_file = dom_auditlog_tail(a->path, &file, partial) == 1;
    int have_state = a->state_path != NULL && dom_auditlog_state_read(a->state_path, &state) == 1;
    dom_auditlog_genesis(&a->link);
    const char *from = "none";
    if (have_state && (!have_file || state.seq > file.seq)) {
        a->link = state;
        from = "state";
    } else if (have_file) {
        a->link = file;
        from = "file";
    }
    a->disk = a->link;
    open_line(a, "start", from, have_file && have_state && state.seq > file.seq ? &file : NULL);
}

int dom__audit_open(const dom__audit_options_t *opts, size_t n_threads, dom__audit_t **out, char *err, size_t errlen)
{
    int ret = DOM_ENOMEM;
    *out = NULL;
    dom__audit_t *a = calloc(1, sizeof(*a));
    if (a == NULL)
        goto cleanup;
    a->fd = -1;
    a->state_fd = -1;
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
    if ((a->path = strdup(opts->path)) == NULL ||
        (opts->instance != NULL && (a->instance = strdup(opts->instance)) == NULL))
        goto cleanup;
    a->opts.path = a->path;
    a->opts.instance = a->instance;
    if (opts->checkpoint_key != NULL) {
        a->checkpoint_key = *opts->checkpoint_key;
        a->has_checkpoint_key = 1;
    }
    a->opts.checkpoint_key = NULL;
    /* the state file: as configured; by default beside a regular log file (not beside /dev/full or a pipe) */
    struct stat st;
    if (opts->state_path != NULL && opts->state_path[0] != '\0') {
        if ((a->state_path = strdup(opts->state_path)) == NULL)
            goto cleanup;
    } else if (opts->state_path == NULL && (stat(a->path, &st) != 0 || S_ISREG(st.st_mode))) {
        if ((a->state_path = malloc(strlen(a->path) + sizeof(".chain"))) == NULL)
            goto cleanup;
        sprintf(a->state_path, "%s.chain", a->path);
    }
    a->opts.state_path = a->state_path;
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
    if ((a->rings = aligned_alloc(64, sizeof(struct ring) * (n_threads ? n_threads : 1))) == NULL ||
        (a->out = malloc(OUT_BYTES)) == NULL || (a->marks = malloc(sizeof(*a->marks) * OUT_MARKS)) == NULL)
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
    if (a->state_path != NULL && (a->state_fd = open(a->state_path, O_RDWR | O_CREAT | O_CLOEXEC, 0640)) < 0) {
        snprintf(err, errlen, "cannot open the audit chain's state file %s: %s", a->state_path, strerror(errno));
        ret = DOM_EIO;
        goto cleanup;
    }
    a->ok = 1;
    a->checkpoint_at_ms = now_ms();
    resume_chain(a, &a->torn);
    flush_out(a);
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
    if (a->state_fd >= 0)
        close(a->state_fd);
    for (size_t i = 0; a->rings != NULL && i < a->n_rings; ++i)
        free(a->rings[i].buf);
    free(a->rings);
    free(a->out);
    free(a->marks);
    OPENSSL_cleanse(&a->checkpoint_key, sizeof(a->checkpoint_key));
    free(a->key);
    free(a->path);
    free(a->state_path);
    free(a->instance);
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

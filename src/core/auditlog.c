/* The audit log's hash chain (auditlog.h, docs/internals/audit.md): seal, parse, MAC, tail, state. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include "domicile/auditlog.h"
#include "util/jsonread.h"

#define KEY_LABEL "domicile audit checkpoint v1"
#define TAIL_WINDOW (64 * 1024)

static void to_hex(const unsigned char *p, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; ++i) {
        out[2 * i] = hex[p[i] >> 4];
        out[2 * i + 1] = hex[p[i] & 15];
    }
    out[2 * n] = '\0';
}

static int is_hash(const char *s)
{
    return s != NULL && strlen(s) == 64 && strspn(s, "0123456789abcdef") == 64;
}

void dom_auditlog_genesis(dom_auditlog_link_t *link)
{
    link->seq = 0;
    memset(link->hash, '0', 64);
    link->hash[64] = '\0';
}

void dom_auditlog_hash(const char *line, size_t len, char out[65])
{
    unsigned char md[32];
    unsigned mdlen = 0;
    if (EVP_Digest(line, len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32) {
        memset(out, 'x', 64); /* never a valid hash: the chain breaks visibly rather than silently */
        out[64] = '\0';
        return;
    }
    to_hex(md, 32, out);
}

static int mac(const dom_auditlog_key_t *key, const char *p, size_t n, char out[65])
{
    unsigned char md[32];
    unsigned mdlen = 0;
    if (HMAC(EVP_sha256(), key->key, sizeof(key->key), (const unsigned char *)p, n, md, &mdlen) == NULL || mdlen != 32)
        return DOM_ENOMEM;
    to_hex(md, 32, out);
    return DOM_OK;
}

int dom_auditlog_key_derive(const dom_pin_key_t *secret, dom_auditlog_key_t *out)
{
    unsigned mdlen = 0;
    memset(out, 0, sizeof(*out));
    snprintf(out->kid, sizeof(out->kid), "%s", secret->kid);
    if (HMAC(EVP_sha256(), secret->secret, (int)secret->secret_len, (const unsigned char *)KEY_LABEL,
             sizeof(KEY_LABEL) - 1, out->key, &mdlen) == NULL ||
        mdlen != 32) {
        OPENSSL_cleanse(out, sizeof(*out));
        return DOM_ENOMEM;
    }
    return DOM_OK;
}

size_t dom_auditlog_seal(dom_auditlog_link_t *link, const char *body, size_t len, const dom_auditlog_key_t *key,
                         char *out, size_t outlen)
{
    if (outlen < len + DOM_AUDITLOG_SEAL_MAX)
        return 0;
    memcpy(out, body, len);
    size_t n = len;
    n += (size_t)snprintf(out + n, outlen - n, ",\"seq\":%llu,\"prev\":\"%s\"", (unsigned long long)(link->seq + 1),
                          link->hash);
    if (key != NULL) {
        char m[65];
        n += (size_t)snprintf(out + n, outlen - n, ",\"kid\":\"%s\"", key->kid);
        if (mac(key, out, n, m) != DOM_OK)
            return 0;
        n += (size_t)snprintf(out + n, outlen - n, ",\"mac\":\"%s\"", m);
    }
    out[n++] = '}';
    dom_auditlog_hash(out, n, link->hash);
    out[n++] = '\n';
    link->seq += 1;
    return n;
}

/* ---- reading lines back ---- */

/* Copies the string member `key` into buf; absent or null leaves "". -1: another type, or too long. */
static int get_str(const dom__jval_t *o, const char *key, char *buf, size_t buflen)
{
    const dom__jval_t *v = dom__jval_get(o, key);
    buf[0] = '\0';
    if (v == NULL || v->type == DOM__J_NULL)
        return 0;
    if (v->type != DOM__J_STR || strlen(v->str) >= buflen)
        return -1;
    memcpy(buf, v->str, strlen(v->str) + 1);
    return 0;
}

/* A non-negative integer member (absent: 0, *present 0). -1: another type, negative or fractional. */
static int get_u64(const dom__jval_t *o, const char *key, uint64_t *out, int *present)
{
    const dom__jval_t *v = dom__jval_get(o, key);
    *out = 0;
    if (present != NULL)
        *present = v != NULL;
    if (v == NULL)
        return 0;
    if (v->type != DOM__J_NUM || v->num < 0 || v->num > 9007199254740992.0 || floor(v->num) != v->num)
        return -1;
    *out = (uint64_t)v->num;
    return 0;
}

int dom_auditlog_parse(const char *line, size_t len, dom_auditlog_line_t *out)
{
    memset(out, 0, sizeof(*out));
    if (len > 0 && line[len - 1] == '\n')
        --len;
    dom__jval_t *o = dom__json_parse(line, len);
    int ret = DOM_EINVAL;
    if (o == NULL || o->type != DOM__J_OBJ)
        goto cleanup;
    dom_auditlog_hash(line, len, out->hash);
    uint64_t status = 0;
    int has_seq = 0;
    if (get_str(o, "type", out->type, sizeof(out->type)) || get_str(o, "time", out->time, sizeof(out->time)) ||
        get_str(o, "instance", out->instance, sizeof(out->instance)) ||
        get_str(o, "prev", out->prev, sizeof(out->prev)) || get_u64(o, "seq", &out->seq, &has_seq))
        goto cleanup;
    if (out->prev[0] != '\0' && !is_hash(out->prev))
        goto cleanup;
    out->chained = has_seq && out->prev[0] != '\0';
    if (out->type[0] == '\0') {
        out->kind = DOM_AUDITLOG_REQUEST;
        const dom__jval_t *st = dom__jval_get(o, "status");
        if (get_str(o, "method", out->method, sizeof(out->method)) ||
            get_str(o, "country", out->country, sizeof(out->country)) ||
            get_str(o, "subdivision", out->subdivision, sizeof(out->subdivision)) ||
            get_str(o, "jurisdiction", out->jurisdiction, sizeof(out->jurisdiction)) ||
            get_str(o, "rule_version", out->rule_version, sizeof(out->rule_version)) ||
            get_str(o, "rule_hash", out->rule_hash, sizeof(out->rule_hash)) ||
            get_str(o, "ruleset", out->ruleset, sizeof(out->ruleset)) ||
            get_str(o, "class", out->class_name, sizeof(out->class_name)) ||
            get_str(o, "access", out->access, sizeof(out->access)) ||
            get_str(o, "action", out->action, sizeof(out->action)) ||
            get_str(o, "reason", out->reason, sizeof(out->reason)) ||
            get_str(o, "region", out->region, sizeof(out->region)) ||
            (st != NULL && get_u64(o, "status", &status, NULL)) || status > 999)
            goto cleanup;
        out->status = (int)status;
    } else if (strcmp(out->type, "open") == 0) {
        out->kind = DOM_AUDITLOG_OPEN;
        if (get_str(o, "chain_from", out->chain_from, sizeof(out->chain_from)) ||
            get_str(o, "reason", out->open_reason, sizeof(out->open_reason)))
            goto cleanup;
    } else if (strcmp(out->type, "checkpoint") == 0) {
        out->kind = DOM_AUDITLOG_CHECKPOINT;
        if (get_str(o, "kid", out->kid, sizeof(out->kid)) || get_str(o, "mac", out->mac, sizeof(out->mac)) ||
            get_u64(o, "lines", &out->lines, NULL) || get_u64(o, "dropped", &out->dropped, NULL))
            goto cleanup;
        /* the MAC covers what comes before the last ,"mac": — the writer puts it last */
        static const char tail[] = ",\"mac\":\"";
        for (size_t i = len; out->mac[0] != '\0' && i >= sizeof(tail) - 1; --i)
            if (memcmp(line + i - (sizeof(tail) - 1), tail, sizeof(tail) - 1) == 0) {
                out->mac_at = i - (sizeof(tail) - 1);
                break;
            }
    } else {
        out->kind = DOM_AUDITLOG_OTHER;
    }
    ret = DOM_OK;

cleanup:
    if (o == NULL && len > 0)
        ret = DOM_EINVAL;
    dom__jval_free(o);
    return ret;
}

int dom_auditlog_check_mac(const char *line, const dom_auditlog_line_t *l, const dom_auditlog_key_t *keys, size_t n)
{
    if (l->kind != DOM_AUDITLOG_CHECKPOINT || l->mac_at == 0 || !is_hash(l->mac))
        return DOM_EINVAL;
    for (size_t i = 0; i < n; ++i) {
        if (strcmp(keys[i].kid, l->kid) != 0)
            continue;
        char want[65];
        if (mac(&keys[i], line, l->mac_at, want) != DOM_OK)
            return DOM_ENOMEM;
        return CRYPTO_memcmp(want, l->mac, 64) == 0 ? DOM_OK : DOM_EINVAL;
    }
    return DOM_ENOTFOUND;
}

/* ---- where a chain left off ---- */

int dom_auditlog_tail(const char *path, dom_auditlog_link_t *out, int *partial)
{
    int ret = 0;
    char *buf = NULL;
    *partial = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0)
        return errno == ENOENT ? 0 : DOM_EIO;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size == 0)
        goto cleanup;
    off_t from = st.st_size > TAIL_WINDOW ? st.st_size - TAIL_WINDOW : 0;
    size_t n = (size_t)(st.st_size - from);
    if ((buf = malloc(n)) == NULL) {
        ret = DOM_ENOMEM;
        goto cleanup;
    }
    ssize_t got = pread(fd, buf, n, from);
    if (got != (ssize_t)n) {
        ret = DOM_EIO;
        goto cleanup;
    }
    *partial = buf[n - 1] != '\n';
    /* the complete lines, last first: the last one's hash; the first chained one's seq */
    size_t end = n, lines_after = 0;
    while (end > 0 && buf[end - 1] != '\n')
        --end;
    if (end == 0)
        goto cleanup; /* no complete line in the window */
    size_t last_end = end - 1;
    size_t start = last_end;
    while (start > 0 && buf[start - 1] != '\n')
        --start;
    if (start == 0 && from > 0)
        goto cleanup; /* a line longer than the window: cannot be ours */
    dom_auditlog_hash(buf + start, last_end - start, out->hash);
    out->seq = 0;
    ret = 1;
    for (size_t e = last_end;;) {
        size_t s = e;
        while (s > 0 && buf[s - 1] != '\n')
            --s;
        if (s == 0 && from > 0)
            break; /* cut by the window */
        dom_auditlog_line_t l;
        if (dom_auditlog_parse(buf + s, e - s, &l) == DOM_OK && l.chained) {
            out->seq = l.seq + lines_after;
            break;
        }
        ++lines_after;
        if (s == 0)
            break;
        e = s - 1;
    }

cleanup:
    free(buf);
    close(fd);
    return ret;
}

void dom_auditlog_state_format(const dom_auditlog_link_t *link, char *out)
{
    snprintf(out, DOM_AUDITLOG_STATE_LEN + 1, "v1 %020llu %s\n", (unsigned long long)link->seq, link->hash);
}

int dom_auditlog_state_read(const char *path, dom_auditlog_link_t *out)
{
    char buf[DOM_AUDITLOG_STATE_LEN + 1];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : DOM_EIO;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n < 0)
        return DOM_EIO;
    if (n == 0)
        return 0;
    buf[n] = '\0';
    char hash[65];
    unsigned long long seq;
    if (n != DOM_AUDITLOG_STATE_LEN || sscanf(buf, "v1 %20llu %64s", &seq, hash) != 2 || !is_hash(hash))
        return DOM_EINVAL;
    out->seq = seq;
    memcpy(out->hash, hash, 65);
    return 1;
}

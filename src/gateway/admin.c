/*
 * The admin listener (see admin.h). One request per connection (Connection: close), a
 * 2-second bound on the TLS handshake and reading the request together, 8 KiB at most, and
 * 2 seconds for the answer: scrapers and probes need no more, and nothing a client sends here
 * can hold the thread for long. Who may ask: with admin.tls.client_ca, clients with a
 * certificate it signed (checked in the handshake); with admin.token_file, requests with
 * `Authorization: Bearer <token>` (401 and `WWW-Authenticate: Bearer` otherwise); both when both
 * are set; admin.open_probes answers /healthz and /readyz to anyone, without reasons.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <strings.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>
#include "domicile/rules_record.h"
#include "gateway/admin.h"
#include "gateway/audit.h"
#include "gateway/georeload.h"
#include "gateway/health.h"
#include "util/json.h"

#define READ_TIMEOUT_MS 2000  /* TLS handshake and request */
#define WRITE_TIMEOUT_MS 2000 /* the answer */
#define REQUEST_MAX 8192
#define TOKEN_MIN 16
#define TOKEN_MAX 1024

struct dom__admin {
    dom__server_t *srv;
    int fd, stop[2];
    pthread_t thread;
    int started;
};

/* Everything the process-wide part of a scrape needs, gathered once. */
struct snapshot {
    dom__metrics_globals_t g;
    dom__metrics_node_t *nodes;
    dom__metrics_region_t *regions;
    dom_ruleset_t *rules;
    dom__rules_file_t *rules_file;
    dom_geo_t *geo;
    dom__live_t *live;     /* the settings in force: the config file's hash */
    const char *not_ready; /* NULL: this replica is ready (/readyz 200); else why not */
    char not_ready_buf[160];
};

/*
 * Readiness is per replica: can this process decide? Listeners accepting, rules and geo loaded, and
 * (audit.required) the audit log writable. Region and node health are not part of it: a region's
 * outage is answered per request (503 region_unavailable, Retry-After, never another region), and a
 * load balancer that took every replica out for it would turn one region's outage into a total one.
 * NULL = ready; otherwise why not, written into buf.
 */
static const char *readiness_problem(dom__server_t *srv, const struct snapshot *s, char *buf, size_t len)
{
    if (!__atomic_load_n(&srv->accepting, __ATOMIC_ACQUIRE))
        return "listeners are not accepting (starting or draining)";
    if (!s->g.rules_loaded)
        return "no rules loaded";
    if (srv->config->geo.database != NULL && !s->g.geo_loaded)
        return "no geo database loaded";
    if (srv->config->audit.required && s->g.audit_enabled && !s->g.audit_ok) {
        snprintf(buf, len, "audit log writes fail and audit.required is set (%llu lines dropped)",
                 (unsigned long long)s->g.audit_dropped);
        return buf;
    }
    return NULL;
}

static void take_snapshot(dom__server_t *srv, struct snapshot *s)
{
    memset(s, 0, sizeof(*s));
    dom__metrics_globals_t *g = &s->g;
    const dom_config_t *cfg = srv->config;
    g->instance = cfg->instance; /* a restart key: the start-up config's */
    uint64_t reloads = __atomic_load_n(&srv->sighup_reloads, __ATOMIC_RELAXED);
    g->config_generation = 1 + reloads;
    g->config_loaded_at = __atomic_load_n(&srv->config_loaded_at, __ATOMIC_RELAXED);
    if ((s->live = dom__live_acquire(&srv->live, NULL)) != NULL)
        g->config_sha256 = s->live->settings->config->sha256;
    if ((s->rules = dom__live_rules(&srv->live, &s->rules_file)) != NULL) {
        g->rules_loaded = 1;
        g->rules_generation = s->rules->generation;
        g->rules_hash = s->rules->source_hash;
        g->ruleset = s->rules->hash;
        g->rules_compiled_at = s->rules->compiled_at;
        g->rules_path = s->rules_file->path;
        g->rules_inode = (uint64_t)s->rules_file->id.ino;
        g->rules_loaded_at = s->rules_file->loaded_at;
        dom_rules_store_stats(s->rules_file->store, &g->rules_reloads, &g->rules_reload_failures);
        dom__rulesreload_stats(srv->rulesreload, &g->rules_file_swaps, &g->rules_file_refusals);
    }
    if (srv->georeload != NULL) {
        s->geo = dom__georeload_acquire(srv->georeload, NULL);
        dom__georeload_stats(srv->georeload, &g->geo_reloads, &g->geo_reload_failures);
    } else if (srv->geo != NULL) {
        dom_geo_retain(srv->geo);
        s->geo = srv->geo;
    }
    if (s->geo != NULL) {
        const dom_geo_metadata_t *md = dom_geo_metadata(s->geo);
        g->geo_loaded = dom_geo_path(s->geo)[0] != '\0';
        g->geo_build_epoch = md->build_epoch;
        g->geo_type = md->database_type;
        g->geo_path = dom_geo_path(s->geo);
        g->geo_sha256 = md->sha256;
        g->geo_loaded_at = md->opened_at;
        g->geo_lookup_errors = dom_geo_error_count(s->geo);
    }
    if (s->live != NULL) {
        g->consent_mode = s->live->settings->config->consent.mode == DOM_CONSENT_MODE_HEADER ? "header" : "token";
        const dom__revocations_t *rev = s->live->revocations;
        if (rev != NULL) {
            g->revocations_loaded = 1;
            g->revocations_path = rev->path;
            g->revocations_sha256 = dom_consent_revocations_sha256(rev->list);
            g->revocations_entries = dom_consent_revocations_count(rev->list);
            g->revocations_generation = rev->generation;
            g->revocations_loaded_at = rev->loaded_at;
        }
    }
    dom__consentreload_stats(srv->consentload, &g->revocations_reloads, &g->revocations_reload_failures);
    g->audit_enabled = srv->audit != NULL;
    dom__audit_stats(srv->audit, &g->audit_lines, &g->audit_dropped, &g->audit_reopens, &g->audit_ok);
    size_t n = 0;
    for (size_t i = 0; i < cfg->n_clusters; ++i)
        n += cfg->clusters[i].n_nodes;
    if (n != 0 && (s->nodes = calloc(n, sizeof(*s->nodes))) != NULL) {
        for (size_t i = 0; i < n; ++i) {
            dom__node_health_t *h = &srv->health[i];
            s->nodes[i] = (dom__metrics_node_t){
                .cluster = h->cluster->name,
                .region = h->cluster->region,
                .url = h->node->url,
                .up = __atomic_load_n(&h->up, __ATOMIC_RELAXED),
                .check_failures = __atomic_load_n(&h->check_failures, __ATOMIC_RELAXED),
                .passive_failures = __atomic_load_n(&h->passive_failures, __ATOMIC_RELAXED),
                .transitions = __atomic_load_n(&h->transitions, __ATOMIC_RELAXED),
            };
        }
        g->nodes = s->nodes;
        g->n_nodes = n;
        if ((s->regions = calloc(n, sizeof(*s->regions))) != NULL)
            for (size_t i = 0; i < n; ++i) {
                size_t r = 0;
                while (r < g->n_regions && strcmp(s->regions[r].name, s->nodes[i].region) != 0)
                    ++r;
                if (r == g->n_regions)
                    s->regions[g->n_regions++].name = s->nodes[i].region;
                ++s->regions[r].nodes;
                s->regions[r].nodes_up += s->nodes[i].up != 0;
            }
        g->regions = s->regions;
    }
    g->sighup_reloads = __atomic_load_n(&srv->sighup_reloads, __ATOMIC_RELAXED);
    g->config_reload_failures = __atomic_load_n(&srv->config_reload_failures, __ATOMIC_RELAXED);
    g->start_time = srv->start_time;
    s->not_ready = readiness_problem(srv, s, s->not_ready_buf, sizeof(s->not_ready_buf));
    g->ready = s->not_ready == NULL;
}

static void drop_snapshot(struct snapshot *s)
{
    dom_ruleset_release(s->rules);
    dom__rules_file_release(s->rules_file);
    dom_geo_release(s->geo);
    dom__live_release(s->live);
    free(s->nodes);
    free(s->regions);
}

/* A region the clusters serve, or NULL. */
static const dom__metrics_region_t *find_region(const struct snapshot *s, const char *name)
{
    for (size_t i = 0; i < s->g.n_regions; ++i)
        if (strcmp(s->g.regions[i].name, name) == 0)
            return &s->g.regions[i];
    return NULL;
}

/* "region=NAME" (the only parameter /readyz takes): NAME into out, or -1. */
static int region_param(const char *query, char *out, size_t outlen)
{
    if (strncmp(query, "region=", 7) != 0)
        return -1;
    const char *name = query + 7;
    size_t n = strlen(name);
    if (n == 0 || n >= outlen)
        return -1;
    for (size_t i = 0; i < n; ++i)
        if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= 'A' && name[i] <= 'Z') ||
              (name[i] >= '0' && name[i] <= '9') || name[i] == '-' || name[i] == '_' || name[i] == '.'))
            return -1;
    memcpy(out, name, n + 1);
    return 0;
}

static void answer_readyz(dom__server_t *srv, const struct snapshot *s, const char *query, int *status,
                          dom__text_t *body)
{
    char name[DOM_NAME_MAX + 1];
    const char *reason = s->not_ready;
    const dom__metrics_region_t *region = NULL;
    if (query != NULL && region_param(query, name, sizeof(name)) != 0) {
        *status = 400;
        dom__text_printf(body, "bad query: /readyz takes only region=NAME (a storage region's name)\n");
        return;
    }
    if (query != NULL && (region = find_region(s, name)) == NULL) {
        *status = 404;
        dom__text_printf(body, "no cluster serves region %s\n", name);
        return;
    }
    if (reason != NULL) {
        *status = 503;
        dom__text_printf(body, "not ready: %s\n", reason);
    } else if (region != NULL && region->nodes_up == 0) {
        *status = 503;
        dom__text_printf(body, "region %s: none of its %zu nodes is up (this replica is ready)\n", name, region->nodes);
    } else if (region != NULL) {
        *status = 200;
        dom__text_printf(body, "ready; region %s: %zu of %zu nodes up\n", name, region->nodes_up, region->nodes);
    } else {
        *status = 200;
        dom__text_printf(body, "ready\n");
    }
}

static void render_status(dom__server_t *srv, const struct snapshot *s, dom__text_t *t)
{
    const dom__metrics_globals_t *g = &s->g;
    const char *reason = s->not_ready;
    dom__json_t j = dom__json_text(t);
    dom__json_lit(&j, "{\"instance\":");
    dom__json_str(&j, g->instance);
    dom__json_rawf(&j, ",\"version\":\"0.1.0\",\"start_time\":%lld,\"threads\":%zu,\"ready\":%s,\"not_ready\":",
                   (long long)g->start_time, srv->n_workers, reason == NULL ? "true" : "false");
    dom__json_str(&j, reason);
    dom__json_lit(&j, ",\"config\":{\"file\":");
    dom__json_str(&j, srv->config->file);
    dom__json_lit(&j, ",\"sha256\":");
    dom__json_str(&j, g->config_sha256);
    dom__json_rawf(&j, ",\"generation\":%llu,\"loaded_at\":%lld,\"reload_failures\":%llu}",
                   (unsigned long long)g->config_generation, (long long)g->config_loaded_at,
                   (unsigned long long)g->config_reload_failures);
    dom__json_lit(&j, ",\"rules\":");
    if (s->rules != NULL) {
        dom__json_lit(&j, "{\"ruleset\":");
        dom__json_str(&j, g->ruleset);
        dom__json_rawf(&j, ",\"generation\":%llu,\"source_hash\":", (unsigned long long)g->rules_generation);
        dom__json_str(&j, g->rules_hash);
        dom__json_rawf(&j, ",\"compiled_at\":%lld,\"database\":", (long long)g->rules_compiled_at);
        dom__json_str(&j, g->rules_path);
        dom__json_rawf(&j,
                       ",\"inode\":%llu,\"loaded_at\":%lld,\"reloads\":%llu,\"reload_failures\":%llu,"
                       "\"file_swaps\":%llu,\"file_refusals\":%llu,\"jurisdictions\":[",
                       (unsigned long long)g->rules_inode, (long long)g->rules_loaded_at,
                       (unsigned long long)g->rules_reloads, (unsigned long long)g->rules_reload_failures,
                       (unsigned long long)g->rules_file_swaps, (unsigned long long)g->rules_file_refusals);
        for (size_t i = 0; i < s->rules->n_jurisdictions; ++i) {
            const dom_jurisdiction_t *jur = &s->rules->jurisdictions[i];
            dom__json_rawf(&j, "%s{\"name\":", i ? "," : "");
            dom__json_str(&j, jur->name);
            dom__json_lit(&j, ",\"version\":");
            dom__json_str(&j, jur->version);
            dom__json_lit(&j, ",\"hash\":");
            dom__json_str(&j, jur->hash);
            dom__json_rawf(&j, ",\"effective\":%lld,\"mode\":\"%s\"}", (long long)jur->effective,
                           dom_rule_mode_name(jur->mode));
        }
        dom__json_lit(&j, "]}");
    } else {
        dom__json_null(&j);
    }
    dom__json_lit(&j, ",\"geo\":{\"path\":");
    dom__json_str(&j, g->geo_loaded ? g->geo_path : NULL);
    dom__json_lit(&j, ",\"type\":");
    dom__json_str(&j, g->geo_loaded ? g->geo_type : NULL);
    dom__json_lit(&j, ",\"sha256\":");
    dom__json_str(&j, g->geo_loaded ? g->geo_sha256 : NULL);
    dom__json_rawf(&j,
                   ",\"loaded_at\":%lld,\"build_epoch\":%llu,\"reloads\":%llu,\"reload_failures\":%llu,"
                   "\"lookup_errors\":%llu}",
                   (long long)(g->geo_loaded ? g->geo_loaded_at : 0), (unsigned long long)g->geo_build_epoch,
                   (unsigned long long)g->geo_reloads, (unsigned long long)g->geo_reload_failures,
                   (unsigned long long)g->geo_lookup_errors);
    dom__json_lit(&j, ",\"consent\":{\"mode\":");
    dom__json_str(&j, g->consent_mode);
    dom__json_lit(&j, ",\"revocations\":");
    if (g->revocations_loaded) {
        dom__json_lit(&j, "{\"path\":");
        dom__json_str(&j, g->revocations_path);
        dom__json_lit(&j, ",\"sha256\":");
        dom__json_str(&j, g->revocations_sha256);
        dom__json_rawf(&j,
                       ",\"entries\":%llu,\"generation\":%llu,\"loaded_at\":%lld,\"reloads\":%llu,"
                       "\"reload_failures\":%llu}}",
                       (unsigned long long)g->revocations_entries, (unsigned long long)g->revocations_generation,
                       (long long)g->revocations_loaded_at, (unsigned long long)g->revocations_reloads,
                       (unsigned long long)g->revocations_reload_failures);
    } else {
        dom__json_lit(&j, "null}");
    }
    dom__json_rawf(&j,
                   ",\"audit\":{\"enabled\":%s,\"required\":%s,\"ok\":%s,\"lines\":%llu,\"dropped\":%llu,"
                   "\"reopens\":%llu}",
                   g->audit_enabled ? "true" : "false", srv->config->audit.required ? "true" : "false",
                   g->audit_ok ? "true" : "false", (unsigned long long)g->audit_lines,
                   (unsigned long long)g->audit_dropped, (unsigned long long)g->audit_reopens);
    /* region health: what /readyz?region=NAME answers, one entry per region the clusters serve */
    dom__json_lit(&j, ",\"regions\":[");
    for (size_t i = 0; i < g->n_regions; ++i) {
        dom__json_rawf(&j, "%s{\"name\":", i ? "," : "");
        dom__json_str(&j, g->regions[i].name);
        dom__json_rawf(&j, ",\"up\":%s,\"nodes\":%zu,\"nodes_up\":%zu}", g->regions[i].nodes_up ? "true" : "false",
                       g->regions[i].nodes, g->regions[i].nodes_up);
    }
    dom__json_lit(&j, "]");
    dom__json_lit(&j, ",\"nodes\":[");
    for (size_t i = 0; i < g->n_nodes; ++i) {
        dom__json_rawf(&j, "%s{\"cluster\":", i ? "," : "");
        dom__json_str(&j, g->nodes[i].cluster);
        dom__json_lit(&j, ",\"region\":");
        dom__json_str(&j, g->nodes[i].region);
        dom__json_lit(&j, ",\"url\":");
        dom__json_str(&j, g->nodes[i].url);
        dom__json_rawf(&j, ",\"up\":%s,\"check_failures\":%llu,\"passive_failures\":%llu,\"transitions\":%llu}",
                       g->nodes[i].up ? "true" : "false", (unsigned long long)g->nodes[i].check_failures,
                       (unsigned long long)g->nodes[i].passive_failures, (unsigned long long)g->nodes[i].transitions);
    }
    dom__json_lit(&j, "]}\n");
}

void dom__admin_answer(dom__server_t *srv, const char *path, const char *query, int *status, const char **content_type,
                       dom__text_t *body)
{
    *content_type = "text/plain; charset=utf-8";
    if (strcmp(path, "/healthz") == 0) {
        *status = 200;
        dom__text_printf(body, "ok\n");
        return;
    }
    if (strcmp(path, "/explain") == 0) {
        *content_type = "text/html; charset=utf-8";
        *status = dom__admin_explorer(srv, query, body);
        return;
    }
    if (strcmp(path, "/metrics") != 0 && strcmp(path, "/readyz") != 0 && strcmp(path, "/status") != 0 &&
        strcmp(path, "/") != 0) {
        *status = 404;
        dom__text_printf(body, "not found: /metrics, /healthz, /readyz, /status, / (status page), /explain\n");
        return;
    }
    struct snapshot s;
    take_snapshot(srv, &s);
    if (strcmp(path, "/metrics") == 0) {
        dom__metrics_t **threads = calloc(srv->n_workers ? srv->n_workers : 1, sizeof(*threads));
        for (size_t i = 0; threads != NULL && i < srv->n_workers; ++i)
            threads[i] = &srv->workers[i].metrics;
        *status = threads != NULL ? 200 : 500;
        *content_type = "text/plain; version=0.0.4; charset=utf-8";
        if (threads != NULL)
            dom__metrics_render(body, threads, srv->n_workers, &s.g);
        free(threads);
    } else if (strcmp(path, "/readyz") == 0) {
        answer_readyz(srv, &s, query, status, body);
    } else if (strcmp(path, "/") == 0) {
        *status = 200;
        *content_type = "text/html; charset=utf-8";
        dom__admin_status_page(srv, &s.g, s.rules, s.not_ready, body);
    } else {
        *status = 200;
        *content_type = "application/json";
        render_status(srv, &s, body);
    }
    drop_snapshot(&s);
}

/* ---- one connection: cleartext or TLS, every read and write within the connection's deadline ---- */

struct conn {
    int fd;
    SSL *ssl; /* NULL: cleartext */
    struct timespec deadline;
};

static void set_deadline(struct conn *c, long ms)
{
    clock_gettime(CLOCK_MONOTONIC, &c->deadline);
    c->deadline.tv_sec += ms / 1000;
    c->deadline.tv_nsec += (ms % 1000) * 1000000;
    if (c->deadline.tv_nsec >= 1000000000) {
        ++c->deadline.tv_sec;
        c->deadline.tv_nsec -= 1000000000;
    }
}

/* Waits for the socket to be readable (POLLIN) or writable (POLLOUT) before the deadline: 0, or -1. */
static int wait_io(struct conn *c, short events)
{
    for (;;) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        long left = (long)(c->deadline.tv_sec - now.tv_sec) * 1000 + (c->deadline.tv_nsec - now.tv_nsec) / 1000000;
        if (left <= 0)
            return -1;
        struct pollfd p = {c->fd, events, 0};
        int n = poll(&p, 1, (int)left);
        if (n > 0)
            return 0;
        if (n < 0 && errno != EINTR)
            return -1;
    }
}

/* After an SSL call returned r: wait for what it wants and return 0 to call again, or -1. */
static int ssl_retry(struct conn *c, int r)
{
    switch (SSL_get_error(c->ssl, r)) {
    case SSL_ERROR_WANT_READ:
        return wait_io(c, POLLIN);
    case SSL_ERROR_WANT_WRITE:
        return wait_io(c, POLLOUT);
    default:
        return -1;
    }
}

/* Up to len bytes: > 0 read, 0 end of stream, -1 error or deadline. */
static ssize_t conn_read(struct conn *c, char *buf, size_t len)
{
    for (;;) {
        if (c->ssl != NULL) {
            int r = SSL_read(c->ssl, buf, (int)len);
            if (r > 0)
                return r;
            if (SSL_get_error(c->ssl, r) == SSL_ERROR_ZERO_RETURN)
                return 0;
            if (ssl_retry(c, r) != 0)
                return -1;
        } else {
            ssize_t r = recv(c->fd, buf, len, 0);
            if (r >= 0)
                return r;
            if ((errno != EAGAIN && errno != EINTR) || wait_io(c, POLLIN) != 0)
                return -1;
        }
    }
}

/* All of buf, or -1. */
static int conn_write(struct conn *c, const char *buf, size_t len)
{
    size_t off = 0;
    while (off < len) {
        if (c->ssl != NULL) {
            int r = SSL_write(c->ssl, buf + off, (int)(len - off));
            if (r > 0)
                off += (size_t)r;
            else if (ssl_retry(c, r) != 0)
                return -1;
        } else {
            ssize_t r = send(c->fd, buf + off, len - off, MSG_NOSIGNAL);
            if (r > 0)
                off += (size_t)r;
            else if ((r < 0 && errno != EAGAIN && errno != EINTR) || wait_io(c, POLLOUT) != 0)
                return -1;
        }
    }
    return 0;
}

/* The TLS handshake, client certificate check included (the context's verify mode): 0, or -1. */
static int conn_handshake(struct conn *c)
{
    for (;;) {
        int r = SSL_accept(c->ssl);
        if (r == 1)
            return 0;
        if (ssl_retry(c, r) != 0)
            return -1;
    }
}

/* ---- who may ask ---- */

/*
 * The value of the request's one Authorization header field, trimmed (its length in *len), or NULL
 * when there is none; *count says how many there were (more than one is refused: which would win?).
 */
static const char *authorization_value(const char *head, size_t *len, int *count)
{
    const char *value = NULL;
    *count = 0;
    const char *line = strchr(head, '\n');
    while (line != NULL && *++line != '\0') {
        const char *end = strchr(line, '\n');
        size_t n = end != NULL ? (size_t)(end - line) : strlen(line);
        if (n > 0 && line[n - 1] == '\r')
            --n;
        if (n == 0)
            break; /* the end of the header section */
        if (n > 14 && strncasecmp(line, "authorization:", 14) == 0) {
            const char *v = line + 14, *e = line + n;
            while (v < e && (*v == ' ' || *v == '\t'))
                ++v;
            while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
                --e;
            value = v;
            *len = (size_t)(e - v);
            ++*count;
        }
        line = end;
    }
    return value;
}

enum credential { CRED_NONE, CRED_BAD, CRED_GOOD };

/* "Bearer <token>" against the token's SHA-256: compared digest to digest, so in constant time whatever the length. */
static enum credential bearer(const char *head, const unsigned char want[32])
{
    size_t len = 0;
    int count;
    const char *v = authorization_value(head, &len, &count);
    if (count == 0)
        return CRED_NONE;
    if (count != 1 || len < 8 || strncasecmp(v, "bearer", 6) != 0 || (v[6] != ' ' && v[6] != '\t'))
        return CRED_BAD;
    const char *token = v + 7, *end = v + len;
    while (token < end && (*token == ' ' || *token == '\t'))
        ++token;
    unsigned char got[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)token, (size_t)(end - token), got);
    return CRYPTO_memcmp(got, want, sizeof(got)) == 0 ? CRED_GOOD : CRED_BAD;
}

/* The endpoints admin.open_probes leaves open: liveness and bare readiness (no region, no reason). */
static int is_probe(const char *path, const char *query)
{
    return strcmp(path, "/healthz") == 0 || (strcmp(path, "/readyz") == 0 && query == NULL);
}

static void serve_one(dom__admin_t *a, int fd)
{
    char req[REQUEST_MAX + 1];
    size_t got = 0;
    struct conn c = {fd, NULL, {0, 0}};
    set_deadline(&c, READ_TIMEOUT_MS);
    if (a->srv->admin_ssl != NULL) {
        /* a client without a certificate client_ca signed, when one is required, ends here */
        if ((c.ssl = SSL_new(a->srv->admin_ssl)) == NULL || SSL_set_fd(c.ssl, fd) != 1 || conn_handshake(&c) != 0)
            goto done;
    }
    while (got < REQUEST_MAX && memmem(req, got, "\r\n\r\n", 4) == NULL && memmem(req, got, "\n\n", 2) == NULL) {
        ssize_t r = conn_read(&c, req + got, REQUEST_MAX - got);
        if (r <= 0)
            goto done;
        got += (size_t)r;
    }
    req[got] = '\0';
    /* "GET /path HTTP/1.x": anything else is 400/405 */
    int status = 400;
    const char *ctype = "text/plain; charset=utf-8", *challenge = NULL;
    dom__text_t body = {0};
    char *sp1 = strchr(req, ' '), *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
    int head = 0;
    if (got == REQUEST_MAX && memmem(req, got, "\r\n\r\n", 4) == NULL && memmem(req, got, "\n\n", 2) == NULL) {
        status = 431;
        dom__text_printf(&body, "request too large: the admin listener reads %d bytes at most\n", REQUEST_MAX);
    } else if (sp1 == NULL || sp2 == NULL || strncmp(sp2 + 1, "HTTP/1.", 7) != 0 || memchr(req, '\0', got) != NULL) {
        dom__text_printf(&body, "bad request\n");
    } else if (!((sp1 - req == 3 && memcmp(req, "GET", 3) == 0) ||
                 (head = sp1 - req == 4 && !memcmp(req, "HEAD", 4)))) {
        status = 405;
        dom__text_printf(&body, "only GET\n");
    } else {
        dom__server_t *srv = a->srv;
        const dom_config_t *cfg = srv->config;
        /* the token may change at SIGHUP: read it from the live settings, then the request line is cut up */
        dom__live_t *live = dom__live_acquire(&srv->live, NULL);
        enum credential token =
            live->settings->has_admin_token ? bearer(sp2, live->settings->admin_token_sha256) : CRED_GOOD;
        dom__live_release(live);
        /* with open_probes the handshake lets clients without a certificate through: they get probes only */
        int certified = cfg->admin.tls_client_ca == NULL ||
                        (SSL_get0_peer_certificate(c.ssl) != NULL && SSL_get_verify_result(c.ssl) == X509_V_OK);
        *sp2 = '\0';
        char *q = strchr(sp1 + 1, '?');
        if (q != NULL)
            *q++ = '\0';
        const char *path = sp1 + 1;
        if (certified && token == CRED_GOOD) {
            dom__admin_answer(srv, path, q, &status, &ctype, &body);
        } else if (cfg->admin.open_probes && is_probe(path, q)) {
            dom__admin_answer(srv, path, q, &status, &ctype, &body);
            /* the probe's verdict without the reason (which names rules, geo and audit state) */
            body.len = 0;
            dom__text_printf(&body, "%s\n",
                             strcmp(path, "/healthz") == 0 ? "ok"
                             : status == 200               ? "ready"
                                                           : "not ready");
        } else if (!certified) {
            status = 403;
            dom__text_printf(&body, "forbidden: this admin listener answers clients with a certificate signed by "
                                    "admin.tls.client_ca\n");
        } else {
            status = 401;
            challenge = token == CRED_NONE ? "Bearer realm=\"domicile-admin\""
                                           : "Bearer realm=\"domicile-admin\", error=\"invalid_token\"";
            dom__text_printf(&body, "unauthorized: send Authorization: Bearer <the token of admin.token_file>\n");
        }
    }
    char hdr[768];
    int n = snprintf(hdr, sizeof(hdr),
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nCache-Control: no-store\r\n"
                     "X-Content-Type-Options: nosniff\r\n%s%s%s%sConnection: close\r\n\r\n",
                     status, status == 200 ? "OK" : dom__status_text(status), ctype, body.len,
                     /* the HTML pages: no script, no framing, forms only to this listener */
                     strncmp(ctype, "text/html", 9) == 0 ? "Content-Security-Policy: default-src 'none'; "
                                                           "style-src 'unsafe-inline'; form-action 'self'; "
                                                           "frame-ancestors 'none'\r\n"
                                                         : "",
                     challenge != NULL ? "WWW-Authenticate: " : "", challenge != NULL ? challenge : "",
                     challenge != NULL ? "\r\n" : "");
    set_deadline(&c, WRITE_TIMEOUT_MS);
    if (conn_write(&c, hdr, (size_t)n) == 0 && !head && body.len != 0)
        conn_write(&c, body.base, body.len);
    if (c.ssl != NULL)
        SSL_shutdown(c.ssl); /* close_notify, once: the connection closes next whatever the client does */
    dom__text_free(&body);
done:
    SSL_free(c.ssl);
}

int dom__admin_token_load(const char *path, unsigned char sha256[32], char *err, size_t errlen)
{
    char buf[TOKEN_MAX + 2];
    int ret = DOM_EINVAL;
    FILE *fp = fopen(path, "rb");
    if (fp == NULL) {
        snprintf(err, errlen, "admin.token_file %s: %s", path, strerror(errno));
        return DOM_EIO;
    }
    size_t n = fread(buf, 1, sizeof(buf), fp);
    int failed = ferror(fp);
    fclose(fp);
    if (failed) {
        snprintf(err, errlen, "admin.token_file %s: read error", path);
        ret = DOM_EIO;
        goto cleanup;
    }
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        --n;
    size_t i = 0;
    while (i < n && (isalnum((unsigned char)buf[i]) || strchr("-._~+/", buf[i]) != NULL) && buf[i] != '\0')
        ++i;
    while (i < n && buf[i] == '=')
        ++i;
    if (n < TOKEN_MIN || n > TOKEN_MAX || i != n) {
        snprintf(err, errlen,
                 "admin.token_file %s: must hold one line of %d to %d characters of A-Z a-z 0-9 - . _ ~ + / "
                 "(then = padding), e.g. from: openssl rand -hex 32",
                 path, TOKEN_MIN, TOKEN_MAX);
        goto cleanup;
    }
    SHA256((const unsigned char *)buf, n, sha256);
    ret = 0;
cleanup:
    OPENSSL_cleanse(buf, sizeof(buf));
    return ret;
}

static void *admin_main(void *arg)
{
    dom__admin_t *a = arg;
    for (;;) {
        struct pollfd p[2] = {{a->stop[0], POLLIN, 0}, {a->fd, POLLIN, 0}};
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (p[0].revents)
            break;
        int c = accept4(a->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (c < 0)
            continue;
        serve_one(a, c);
        close(c);
    }
    return NULL;
}

int dom__admin_start(dom__server_t *srv, dom__admin_t **out, char *err, size_t errlen)
{
    const dom_config_t *cfg = srv->config;
    *out = NULL;
    dom__admin_t *a = calloc(1, sizeof(*a));
    if (a == NULL)
        return DOM_ENOMEM;
    a->srv = srv;
    a->stop[0] = a->stop[1] = -1;
    int on = 1;
    if ((a->fd = socket(cfg->admin.addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
        setsockopt(a->fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0 ||
        bind(a->fd, (const struct sockaddr *)&cfg->admin.addr, cfg->admin.addrlen) != 0 || listen(a->fd, 64) != 0 ||
        pipe2(a->stop, O_CLOEXEC) != 0) {
        snprintf(err, errlen, "%s:%zu:%zu: cannot listen on admin address %s: %s", cfg->file, cfg->admin.mark.line,
                 cfg->admin.mark.col, cfg->admin.listen, strerror(errno));
        dom__admin_stop(a);
        return DOM_EIO;
    }
    if (pthread_create(&a->thread, NULL, admin_main, a) != 0) {
        snprintf(err, errlen, "cannot start the admin thread");
        dom__admin_stop(a);
        return DOM_ENOMEM;
    }
    a->started = 1;
    *out = a;
    return 0;
}

void dom__admin_stop(dom__admin_t *a)
{
    if (a == NULL)
        return;
    if (a->stop[1] >= 0)
        close(a->stop[1]);
    if (a->started)
        pthread_join(a->thread, NULL);
    if (a->stop[0] >= 0)
        close(a->stop[0]);
    if (a->fd >= 0)
        close(a->fd);
    free(a);
}

/*
 * The admin listener (see admin.h). One request per connection (Connection: close), a
 * 2-second bound on reading it and 8 KiB at most: scrapers and probes need no more, and
 * nothing a client sends here can hold the thread for long.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "gateway/admin.h"
#include "gateway/audit.h"
#include "gateway/georeload.h"
#include "gateway/health.h"
#include "util/json.h"

#define READ_TIMEOUT_MS 2000
#define REQUEST_MAX 8192

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
    if ((s->rules = dom__live_rules(&srv->live, &s->rules_file)) != NULL) {
        g->rules_loaded = 1;
        g->rules_generation = s->rules->generation;
        g->rules_hash = s->rules->source_hash;
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
        g->geo_lookup_errors = dom_geo_error_count(s->geo);
    }
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
    dom__json_rawf(&j, "{\"version\":\"0.1.0\",\"start_time\":%lld,\"threads\":%zu,\"ready\":%s,\"not_ready\":",
                   (long long)g->start_time, srv->n_workers, reason == NULL ? "true" : "false");
    dom__json_str(&j, reason);
    dom__json_lit(&j, ",\"rules\":");
    if (s->rules != NULL) {
        dom__json_rawf(&j, "{\"generation\":%llu,\"source_hash\":", (unsigned long long)g->rules_generation);
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
            dom__json_lit(&j, i ? ",{\"name\":" : "{\"name\":");
            dom__json_str(&j, jur->name);
            dom__json_lit(&j, ",\"version\":");
            dom__json_str(&j, jur->version);
            dom__json_rawf(&j, ",\"effective\":%lld,\"mode\":\"%s\"}", (long long)jur->effective,
                           jur->mode == DOM_MODE_REPORT ? "report" : "enforce");
        }
        dom__json_lit(&j, "]}");
    } else {
        dom__json_null(&j);
    }
    dom__json_lit(&j, ",\"geo\":{\"path\":");
    dom__json_str(&j, g->geo_loaded ? g->geo_path : NULL);
    dom__json_lit(&j, ",\"type\":");
    dom__json_str(&j, g->geo_loaded ? g->geo_type : NULL);
    dom__json_rawf(&j, ",\"build_epoch\":%llu,\"reloads\":%llu,\"reload_failures\":%llu,\"lookup_errors\":%llu}",
                   (unsigned long long)g->geo_build_epoch, (unsigned long long)g->geo_reloads,
                   (unsigned long long)g->geo_reload_failures, (unsigned long long)g->geo_lookup_errors);
    dom__json_rawf(&j,
                   ",\"audit\":{\"enabled\":%s,\"required\":%s,\"ok\":%s,\"lines\":%llu,\"dropped\":%llu,"
                   "\"reopens\":%llu}",
                   g->audit_enabled ? "true" : "false", srv->config->audit.required ? "true" : "false",
                   g->audit_ok ? "true" : "false", (unsigned long long)g->audit_lines,
                   (unsigned long long)g->audit_dropped, (unsigned long long)g->audit_reopens);
    /* region health: what /readyz?region=NAME answers, one entry per region the clusters serve */
    dom__json_lit(&j, ",\"regions\":[");
    for (size_t i = 0; i < g->n_regions; ++i) {
        dom__json_lit(&j, i ? ",{\"name\":" : "{\"name\":");
        dom__json_str(&j, g->regions[i].name);
        dom__json_rawf(&j, ",\"up\":%s,\"nodes\":%zu,\"nodes_up\":%zu}", g->regions[i].nodes_up ? "true" : "false",
                       g->regions[i].nodes, g->regions[i].nodes_up);
    }
    dom__json_lit(&j, "],\"nodes\":[");
    for (size_t i = 0; i < g->n_nodes; ++i) {
        dom__json_lit(&j, i ? ",{\"cluster\":" : "{\"cluster\":");
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
    if (strcmp(path, "/metrics") != 0 && strcmp(path, "/readyz") != 0 && strcmp(path, "/status") != 0) {
        *status = 404;
        dom__text_printf(body, "not found: /metrics, /healthz, /readyz, /status\n");
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
    } else {
        *status = 200;
        *content_type = "application/json";
        render_status(srv, &s, body);
    }
    drop_snapshot(&s);
}

static void serve_one(dom__admin_t *a, int fd)
{
    char req[REQUEST_MAX + 1];
    size_t got = 0;
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    while (got < REQUEST_MAX && memmem(req, got, "\r\n\r\n", 4) == NULL && memmem(req, got, "\n\n", 2) == NULL) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        long left = READ_TIMEOUT_MS - ((now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000);
        struct pollfd p = {fd, POLLIN, 0};
        if (left <= 0 || poll(&p, 1, (int)left) <= 0)
            return;
        ssize_t r = recv(fd, req + got, REQUEST_MAX - got, 0);
        if (r <= 0)
            return;
        got += (size_t)r;
    }
    req[got] = '\0';
    /* "GET /path HTTP/1.x": anything else is 400/405 */
    int status = 400;
    const char *ctype = "text/plain; charset=utf-8";
    dom__text_t body = {0};
    char *sp1 = strchr(req, ' '), *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
    int head = 0;
    if (sp1 == NULL || sp2 == NULL || strncmp(sp2 + 1, "HTTP/1.", 7) != 0) {
        dom__text_printf(&body, "bad request\n");
    } else if (!((sp1 - req == 3 && memcmp(req, "GET", 3) == 0) ||
                 (head = sp1 - req == 4 && !memcmp(req, "HEAD", 4)))) {
        status = 405;
        dom__text_printf(&body, "only GET\n");
    } else {
        *sp2 = '\0';
        char *q = strchr(sp1 + 1, '?');
        if (q != NULL)
            *q++ = '\0';
        dom__admin_answer(a->srv, sp1 + 1, q, &status, &ctype, &body);
    }
    char hdr[256];
    int n = snprintf(hdr, sizeof(hdr),
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nCache-Control: no-store\r\n"
                     "Connection: close\r\n\r\n",
                     status, status == 200 ? "OK" : dom__status_text(status), ctype, body.len);
    struct timeval tv = {2, 0};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (send(fd, hdr, (size_t)n, MSG_NOSIGNAL) == n && !head && body.len != 0) {
        size_t off = 0;
        while (off < body.len) {
            ssize_t w = send(fd, body.base + off, body.len - off, MSG_NOSIGNAL);
            if (w <= 0)
                break;
            off += (size_t)w;
        }
    }
    dom__text_free(&body);
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
        int c = accept4(a->fd, NULL, NULL, SOCK_CLOEXEC);
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

/*
 * Per-thread counters and their Prometheus rendering. See metrics.h for the threading
 * contract and docs/internals/operations.md for the metric names.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "gateway/metrics.h"

const double dom__hist_bounds[DOM__HIST_BUCKETS] = {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                                    0.01,    0.025,  0.05,    0.1,    0.25,  1.0,    5.0};

int dom__metrics_init(dom__metrics_t *m, size_t capacity)
{
    memset(m, 0, sizeof(*m));
    size_t cap = 16;
    while (cap < capacity && cap < ((size_t)1 << 20))
        cap <<= 1;
    if ((m->table = calloc(cap, sizeof(*m->table))) == NULL)
        return DOM_ENOMEM;
    m->capacity = cap;
    return 0;
}

void dom__metrics_dispose(dom__metrics_t *m)
{
    if (m == NULL)
        return;
    free(m->table);
    m->table = NULL;
    m->capacity = m->used = 0;
}

static uint32_t fnv(uint32_t h, const char *s)
{
    for (; s != NULL && *s != '\0'; ++s)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return (h ^ 0xff) * 16777619u; /* separator, so ("ab","c") != ("a","bc") */
}

static int same(const char *a, const char *b)
{
    return strcmp(a, b != NULL ? b : "") == 0;
}

static void copy_label(char *dst, const char *src, const char *fallback)
{
    snprintf(dst, DOM_NAME_MAX + 1, "%s", src != NULL ? src : fallback);
}

void dom__metrics_count_request(dom__metrics_t *m, const dom__request_labels_t *l)
{
    const char *j = l->jurisdiction != NULL ? l->jurisdiction : "none";
    const char *c = l->class_name != NULL ? l->class_name : "none";
    const char *r = l->region != NULL ? l->region : "";
    const char *a = l->action != NULL ? l->action : "";
    uint32_t h = fnv(fnv(fnv(fnv(2166136261u, j), c), r), a) ^ (uint32_t)l->status;
    size_t mask = m->capacity - 1;
    for (size_t i = 0; i < m->capacity; ++i) {
        dom__request_counter_t *e = &m->table[(h + i) & mask];
        if (!e->used) {
            /* keep a quarter free so probes stay short; the rest goes to one overflow count */
            if (m->used + 1 > m->capacity - m->capacity / 4)
                break;
            copy_label(e->jurisdiction, j, "");
            copy_label(e->class_name, c, "");
            copy_label(e->region, r, "");
            snprintf(e->action, sizeof(e->action), "%s", a);
            e->status = l->status;
            e->hash = h;
            e->count = 1;
            ++m->used;
            __atomic_store_n(&e->used, 1, __ATOMIC_RELEASE);
            return;
        }
        if (e->hash == h && e->status == l->status && same(e->jurisdiction, j) && same(e->class_name, c) &&
            same(e->region, r) && same(e->action, a)) {
            DOM__COUNT(&e->count);
            return;
        }
    }
    DOM__COUNT(&m->overflow);
}

void dom__histogram_observe(dom__histogram_t *h, uint64_t ns)
{
    size_t i = 0;
    double s = (double)ns / 1e9;
    while (i < DOM__HIST_BUCKETS && s > dom__hist_bounds[i])
        ++i;
    DOM__COUNT(&h->buckets[i]);
    DOM__COUNT(&h->count);
    DOM__COUNT_ADD(&h->sum_ns, ns);
}

/* ---- text ---- */

void dom__text_escape(dom__text_t *t, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)(s != NULL ? s : ""); *p != '\0'; ++p) {
        if (dom__text_reserve(t, 2) != 0)
            return;
        if (*p == '\\' || *p == '"') {
            t->base[t->len++] = '\\';
            t->base[t->len++] = (char)*p;
        } else if (*p == '\n') {
            t->base[t->len++] = '\\';
            t->base[t->len++] = 'n';
        } else if (*p >= 0x20 && *p != 0x7f) {
            /* label values take any UTF-8; other control bytes help nobody: dropped */
            t->base[t->len++] = (char)*p;
        }
    }
    if (t->base != NULL)
        t->base[t->len] = '\0';
}

/* ---- rendering ---- */

static int cmp_counter(const void *a, const void *b)
{
    const dom__request_counter_t *x = a, *y = b;
    int c;
    if ((c = strcmp(x->jurisdiction, y->jurisdiction)) != 0 || (c = strcmp(x->class_name, y->class_name)) != 0 ||
        (c = strcmp(x->action, y->action)) != 0 || (c = strcmp(x->region, y->region)) != 0)
        return c;
    return (x->status > y->status) - (x->status < y->status);
}

static void render_requests(dom__text_t *out, dom__metrics_t *const *threads, size_t n)
{
    size_t total = 0;
    for (size_t i = 0; i < n; ++i)
        total += threads[i]->capacity;
    dom__request_counter_t *all = total ? malloc(total * sizeof(*all)) : NULL;
    size_t k = 0;
    uint64_t overflow = 0;
    for (size_t i = 0; i < n; ++i) {
        overflow += DOM__READ(&threads[i]->overflow);
        for (size_t j = 0; all != NULL && j < threads[i]->capacity; ++j) {
            dom__request_counter_t *e = &threads[i]->table[j];
            if (!__atomic_load_n(&e->used, __ATOMIC_ACQUIRE))
                continue;
            all[k] = *e; /* labels are immutable once published */
            all[k].count = DOM__READ(&e->count);
            ++k;
        }
    }
    if (all != NULL)
        qsort(all, k, sizeof(*all), cmp_counter);
    dom__text_printf(out, "# HELP domicile_requests_total Requests by decision: jurisdiction, data class, action, "
                          "final HTTP status and storage region.\n# TYPE domicile_requests_total counter\n");
    for (size_t i = 0; i < k;) {
        uint64_t sum = all[i].count;
        size_t j = i + 1;
        while (j < k && cmp_counter(&all[i], &all[j]) == 0)
            sum += all[j++].count;
        dom__text_printf(out, "domicile_requests_total{jurisdiction=\"");
        dom__text_escape(out, all[i].jurisdiction);
        dom__text_printf(out, "\",class=\"");
        dom__text_escape(out, all[i].class_name);
        dom__text_printf(out, "\",action=\"%s\",status=\"%d\",region=\"", all[i].action, all[i].status);
        dom__text_escape(out, all[i].region);
        dom__text_printf(out, "\"} %llu\n", (unsigned long long)sum);
        i = j;
    }
    if (overflow != 0)
        dom__text_printf(out,
                         "domicile_requests_total{jurisdiction=\"_overflow\",class=\"\",action=\"\",status=\"0\","
                         "region=\"\"} %llu\n",
                         (unsigned long long)overflow);
    free(all);
}

static void render_histogram(dom__text_t *out, const char *name, const char *help, dom__metrics_t *const *threads,
                             size_t n, size_t offset)
{
    uint64_t buckets[DOM__HIST_BUCKETS + 1] = {0}, count = 0, sum_ns = 0;
    for (size_t i = 0; i < n; ++i) {
        dom__histogram_t *h = (dom__histogram_t *)((char *)threads[i] + offset);
        for (size_t b = 0; b <= DOM__HIST_BUCKETS; ++b)
            buckets[b] += DOM__READ(&h->buckets[b]);
        count += DOM__READ(&h->count);
        sum_ns += DOM__READ(&h->sum_ns);
    }
    dom__text_printf(out, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    uint64_t cum = 0;
    for (size_t b = 0; b < DOM__HIST_BUCKETS; ++b) {
        cum += buckets[b];
        dom__text_printf(out, "%s_bucket{le=\"%g\"} %llu\n", name, dom__hist_bounds[b], (unsigned long long)cum);
    }
    cum += buckets[DOM__HIST_BUCKETS];
    /* the +Inf bucket equals the count; read separately they may differ by a racing request */
    if (count < cum)
        count = cum;
    dom__text_printf(out, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.9f\n%s_count %llu\n", name, (unsigned long long)count,
                     name, (double)sum_ns / 1e9, name, (unsigned long long)count);
}

static void counter(dom__text_t *out, const char *name, const char *help, uint64_t v)
{
    dom__text_printf(out, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", name, help, name, name, (unsigned long long)v);
}

static void gauge(dom__text_t *out, const char *name, const char *help, double v)
{
    dom__text_printf(out, "# HELP %s %s\n# TYPE %s gauge\n%s %.17g\n", name, help, name, name, v);
}

const char *dom__proxy_refusal_name(int index)
{
    switch (index) {
    case DOM__PROXY_TRUNCATED:
        return "truncated";
    case DOM__PROXY_TIMEOUT:
        return "timeout";
    case DOM__PROXY_UNTRUSTED:
        return "untrusted";
    default:
        return dom_proxyproto_reason_name((dom_proxyproto_reason_t)index);
    }
}

static void render_proxy(dom__text_t *out, dom__metrics_t *const *threads, size_t n)
{
    dom__text_printf(out, "# HELP domicile_proxy_protocol_headers_total PROXY protocol headers accepted on "
                          "proxy_protocol listeners (command local: v2 LOCAL or v1 UNKNOWN, the sender itself).\n"
                          "# TYPE domicile_proxy_protocol_headers_total counter\n");
    for (int v = 0; v < 2; ++v)
        for (int local = 0; local < 2; ++local) {
            uint64_t sum = 0;
            for (size_t i = 0; i < n; ++i)
                sum += DOM__READ(&threads[i]->proxy_accepted[v][local]);
            dom__text_printf(out, "domicile_proxy_protocol_headers_total{version=\"%d\",command=\"%s\"} %llu\n", v + 1,
                             local ? "local" : "proxy", (unsigned long long)sum);
        }
    dom__text_printf(out, "# HELP domicile_proxy_protocol_refused_total Connections on proxy_protocol listeners closed "
                          "before HTTP: no or bad PROXY header, untrusted sender, closed early, header timeout.\n"
                          "# TYPE domicile_proxy_protocol_refused_total counter\n");
    for (int r = 1; r < DOM__PROXY_N_REFUSALS; ++r) {
        uint64_t sum = 0;
        for (size_t i = 0; i < n; ++i)
            sum += DOM__READ(&threads[i]->proxy_refused[r]);
        dom__text_printf(out, "domicile_proxy_protocol_refused_total{reason=\"%s\"} %llu\n", dom__proxy_refusal_name(r),
                         (unsigned long long)sum);
    }
}

static void render_regions(dom__text_t *out, const dom__metrics_globals_t *g)
{
    dom__text_printf(out, "# HELP domicile_region_up 1 if at least one node of the region may receive requests "
                          "(region health: not part of /readyz).\n# TYPE domicile_region_up gauge\n");
    for (size_t i = 0; i < g->n_regions; ++i) {
        dom__text_printf(out, "domicile_region_up{region=\"");
        dom__text_escape(out, g->regions[i].name);
        dom__text_printf(out, "\"} %d\n", g->regions[i].nodes_up != 0);
    }
}

#define SUM(field)                                                                                                     \
    ({                                                                                                                 \
        uint64_t s_ = 0;                                                                                               \
        for (size_t i_ = 0; i_ < n_threads; ++i_)                                                                      \
            s_ += DOM__READ(&threads[i_]->field);                                                                      \
        s_;                                                                                                            \
    })

void dom__metrics_render(dom__text_t *out, dom__metrics_t *const *threads, size_t n_threads,
                         const dom__metrics_globals_t *g)
{
    render_requests(out, threads, n_threads);
    render_histogram(out, "domicile_decision_duration_seconds",
                     "Time from request start to decision (client address, geo, pin, rules, policy).", threads,
                     n_threads, offsetof(dom__metrics_t, decision));
    render_histogram(out, "domicile_upstream_duration_seconds",
                     "Forwarded requests: time from dispatch to the upstream's response headers.", threads, n_threads,
                     offsetof(dom__metrics_t, upstream));
    render_histogram(out, "domicile_request_duration_seconds", "Whole requests, first byte in to last byte out.",
                     threads, n_threads, offsetof(dom__metrics_t, total));
    counter(out, "domicile_request_body_bytes_total", "Request body bytes received.", SUM(bytes_in));
    counter(out, "domicile_response_bytes_total", "Response bytes sent to clients.", SUM(bytes_out));
    counter(out, "domicile_malformed_client_address_total",
            "Requests whose X-Forwarded-For/Forwarded headers from a trusted peer were malformed.",
            SUM(malformed_forwarding));
    counter(out, "domicile_invalid_pins_total", "Requests refused for an invalid residency pin.", SUM(invalid_pins));
    counter(out, "domicile_upstream_connect_failures_total", "Connections to nodes that failed.",
            SUM(upstream_connect_failures));
    counter(out, "domicile_upstream_retries_total",
            "Requests sent to another node after a connect failure (nothing of them had been sent).",
            SUM(upstream_retries));
    counter(out, "domicile_upstream_5xx_total", "5xx responses from nodes.", SUM(upstream_5xx));
    counter(out, "domicile_h2_rapid_reset_connections_total",
            "HTTP/2 connections shut down for cancelling more streams than limits.h2_max_resets.",
            SUM(h2_reset_connections));
    render_proxy(out, threads, n_threads);

    static const char *const protocols[] = {"protocol=\"h1\",tls=\"false\"", "protocol=\"h1\",tls=\"true\"",
                                            "protocol=\"h2\",tls=\"false\"", "protocol=\"h2\",tls=\"true\""};
    dom__text_printf(out, "# HELP domicile_requests_by_protocol_total Requests by client protocol (h2 without TLS is "
                          "h2c).\n# TYPE domicile_requests_by_protocol_total counter\n");
    for (size_t p = 0; p < 4; ++p)
        dom__text_printf(out, "domicile_requests_by_protocol_total{%s} %llu\n", protocols[p],
                         (unsigned long long)SUM(by_protocol[p]));

    /* what a fleet compares across replicas (deploy/prometheus/domicile-alerts.yml) */
    dom__text_printf(out, "# HELP domicile_instance_info This replica: its configured instance name and version.\n"
                          "# TYPE domicile_instance_info gauge\ndomicile_instance_info{instance_name=\"");
    dom__text_escape(out, g->instance);
    dom__text_printf(out, "\",version=\"0.1.0\"} 1\n");
    dom__text_printf(out, "# HELP domicile_config_info The configuration file in force (SHA-256 of its bytes).\n"
                          "# TYPE domicile_config_info gauge\ndomicile_config_info{sha256=\"");
    dom__text_escape(out, g->config_sha256);
    dom__text_printf(out, "\",generation=\"%llu\"} 1\n", (unsigned long long)g->config_generation);
    gauge(out, "domicile_config_generation", "Configuration loads in force: 1 at start, +1 for every SIGHUP applied.",
          (double)g->config_generation);
    gauge(out, "domicile_config_loaded_timestamp_seconds", "When the configuration in force was loaded (unix seconds).",
          (double)g->config_loaded_at);
    dom__text_printf(
        out,
        "# HELP domicile_rules_info The rule set in force (its content hash, generation of the compiled database).\n"
        "# TYPE domicile_rules_info gauge\n");
    if (g->rules_loaded) {
        dom__text_printf(out, "domicile_rules_info{ruleset=\"");
        dom__text_escape(out, g->ruleset);
        dom__text_printf(out, "\",generation=\"%llu\",source_hash=\"", (unsigned long long)g->rules_generation);
        dom__text_escape(out, g->rules_hash);
        dom__text_printf(out, "\",compiled_at=\"%lld\"} 1\n", (long long)g->rules_compiled_at);
    }
    gauge(out, "domicile_rules_loaded", "1 if a rule set is loaded.", g->rules_loaded);
    gauge(out, "domicile_rules_loaded_timestamp_seconds",
          "When the rules database file in use was opened (unix seconds; 0: none).",
          g->rules_loaded ? (double)g->rules_loaded_at : 0);
    counter(out, "domicile_rules_reloads_total", "Rule sets loaded after a compile into the live database.",
            g->rules_reloads);
    counter(out, "domicile_rules_reload_failures_total", "Rule set loads that failed (the previous set stays).",
            g->rules_reload_failures);
    counter(out, "domicile_rules_file_swaps_total",
            "Rules database files delivered by rename or symlink swap and taken into use.", g->rules_file_swaps);
    counter(out, "domicile_rules_file_refusals_total",
            "Rules database files delivered by rename or symlink swap and refused (the rules in use stay).",
            g->rules_file_refusals);

    dom__text_printf(out, "# HELP domicile_geo_database_info The geo database in use.\n"
                          "# TYPE domicile_geo_database_info gauge\n");
    if (g->geo_loaded) {
        dom__text_printf(out, "domicile_geo_database_info{type=\"");
        dom__text_escape(out, g->geo_type);
        dom__text_printf(out, "\",path=\"");
        dom__text_escape(out, g->geo_path);
        dom__text_printf(out, "\",build_epoch=\"%llu\",sha256=\"", (unsigned long long)g->geo_build_epoch);
        dom__text_escape(out, g->geo_sha256);
        dom__text_printf(out, "\"} 1\n");
    }
    gauge(out, "domicile_geo_database_loaded_timestamp_seconds",
          "When the geo database in use was opened and checked (unix seconds; 0: none).",
          g->geo_loaded ? (double)g->geo_loaded_at : 0);
    gauge(out, "domicile_geo_database_build_timestamp_seconds", "Build date of the geo database in use (0: none).",
          (double)g->geo_build_epoch);
    counter(out, "domicile_geo_reloads_total", "Geo databases swapped in after the file changed.", g->geo_reloads);
    counter(out, "domicile_geo_reload_failures_total", "Replaced geo databases that failed their checks (not used).",
            g->geo_reload_failures);
    counter(out, "domicile_geo_lookup_errors_total", "Geo lookups that failed to decode (location unknown).",
            g->geo_lookup_errors);

    dom__text_printf(out, "# HELP domicile_node_up 1 if the node may receive requests.\n"
                          "# TYPE domicile_node_up gauge\n");
    for (size_t i = 0; i < g->n_nodes; ++i) {
        dom__text_printf(out, "domicile_node_up{cluster=\"");
        dom__text_escape(out, g->nodes[i].cluster);
        dom__text_printf(out, "\",region=\"");
        dom__text_escape(out, g->nodes[i].region);
        dom__text_printf(out, "\",node=\"");
        dom__text_escape(out, g->nodes[i].url);
        dom__text_printf(out, "\"} %d\n", g->nodes[i].up ? 1 : 0);
    }
    dom__text_printf(out, "# HELP domicile_node_health_failures_total Failed active checks and passive marks.\n"
                          "# TYPE domicile_node_health_failures_total counter\n");
    for (size_t i = 0; i < g->n_nodes; ++i) {
        for (int kind = 0; kind < 2; ++kind) {
            dom__text_printf(out, "domicile_node_health_failures_total{node=\"");
            dom__text_escape(out, g->nodes[i].url);
            dom__text_printf(out, "\",kind=\"%s\"} %llu\n", kind ? "passive" : "active",
                             (unsigned long long)(kind ? g->nodes[i].passive_failures : g->nodes[i].check_failures));
        }
    }

    gauge(out, "domicile_audit_enabled", "1 if the audit log is configured.", g->audit_enabled);
    gauge(out, "domicile_audit_ok", "0 after the last write to the audit log failed.", g->audit_ok);
    counter(out, "domicile_audit_lines_total", "Audit lines written.", g->audit_lines);
    counter(out, "domicile_audit_dropped_lines_total", "Audit lines lost (buffer full, disk full, unwritable file).",
            g->audit_dropped);
    counter(out, "domicile_audit_reopens_total", "Audit log reopened (SIGUSR1).", g->audit_reopens);
    counter(out, "domicile_config_reloads_total", "SIGHUPs whose configuration file loaded and was applied.",
            g->sighup_reloads);
    counter(out, "domicile_config_reload_failures_total",
            "SIGHUPs whose configuration file did not load (the running configuration was kept).",
            g->config_reload_failures);
    gauge(out, "domicile_start_time_seconds", "Start time of the process (unix seconds).", (double)g->start_time);
    render_regions(out, g);
    gauge(out, "domicile_ready",
          "1 if this replica can decide (what /readyz answers): listeners up, rules and geo loaded, audit writable "
          "when audit.required.",
          g->ready);
}

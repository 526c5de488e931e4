/*
 * The admin listener's two HTML pages (admin.h): the status page at / and the decision explorer at
 * /explain. Plain HTML and a few lines of CSS, no script: the status page refreshes itself with a
 * meta refresh, the explorer is a GET form. Every text that comes from a config, a rule file, a
 * node or a form goes through the one HTML escaper (util/html.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "cli/explain.h"
#include "domicile/rules_record.h"
#include "gateway/admin.h"
#include "gateway/recent.h"
#include "util/html.h"
#include "util/time.h"

#define REFRESH_SECONDS 5

/* The explorer's fields and their bounds (bytes after decoding); the admin listener reads 8 KiB at most. */
static const struct field {
    const char *name, *label;
    size_t max;
} fields[] = {
    {"ip", "Client address", 64},   {"method", "Method", 32},
    {"path", "Path", 2048},         {"headers", "Forwarding headers", 2048},
    {"pin", "Residency pin", 1024}, {"consent", "Consent", 256},
};
#define N_FIELDS (sizeof(fields) / sizeof(fields[0]))

static const char *style = "body{font-family:system-ui,sans-serif;margin:0 auto;max-width:1200px;padding:0 1rem 2rem;"
                           "color:#1b1b1b;line-height:1.4}h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:1.6rem;"
                           "border-bottom:1px solid #ccc}table{border-collapse:collapse;font-size:.9rem}"
                           "th,td{border:1px solid #ccc;padding:.2rem .5rem;text-align:left;vertical-align:top}"
                           "th{background:#f3f3f3}td.num{text-align:right;font-variant-numeric:tabular-nums}"
                           ".up{color:#075e07;font-weight:600}.down{color:#a00;font-weight:600}"
                           "tr.region th{background:#e8eef5}code,pre{font-family:ui-monospace,monospace;"
                           "font-size:.85rem}pre{background:#f6f6f6;padding:.5rem;overflow:auto;white-space:pre-wrap}"
                           "nav a{margin-right:1rem}label{display:block;margin-top:.5rem;font-weight:600}"
                           "input,textarea{width:100%;max-width:40rem;font-family:ui-monospace,monospace}"
                           ".error{color:#a00;font-weight:600}dl{display:grid;grid-template-columns:max-content 1fr;"
                           "gap:.1rem 1rem}dt{font-weight:600}dd{margin:0}";

static void page_start(dom__text_t *t, const dom__server_t *srv, const char *title, int refresh)
{
    dom__text_printf(t, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    if (refresh)
        dom__text_printf(t, "<meta http-equiv=\"refresh\" content=\"%d\">\n", REFRESH_SECONDS);
    dom__text_printf(t, "<title>");
    dom__html_escape(t, title);
    dom__text_printf(t, ": ");
    dom__html_escape(t, srv->config->instance);
    dom__text_printf(t,
                     "</title>\n<style>%s</style>\n</head>\n<body>\n<nav><a href=\"/\">Status</a>"
                     "<a href=\"/explain\">Decision explorer</a><a href=\"/status\">/status (JSON)</a>"
                     "<a href=\"/metrics\">/metrics</a></nav>\n",
                     style);
}

static void when(dom__text_t *t, int64_t unix_seconds)
{
    char buf[32];
    if (unix_seconds <= 0) {
        dom__text_printf(t, "never");
        return;
    }
    dom__html_escape(t, dom__time_format(unix_seconds, DOM__TIME_FMT_ISO, buf, sizeof(buf)));
}

static void dl_text(dom__text_t *t, const char *term, const char *value)
{
    dom__text_printf(t, "<dt>");
    dom__html_escape(t, term);
    dom__text_printf(t, "</dt><dd>");
    dom__html_escape(t, value != NULL ? value : "none");
    dom__text_printf(t, "</dd>");
}

/* Requests of this node in flight, summed over the worker threads (each writes only its own count). */
static size_t outstanding(const dom__server_t *srv, size_t cluster, size_t node)
{
    size_t n = 0;
    for (size_t w = 0; w < srv->n_workers; ++w) {
        const dom__upstream_t *up = &srv->workers[w].upstream;
        if (cluster < up->n_clusters && node < up->clusters[cluster].n_nodes)
            n += __atomic_load_n(&up->clusters[cluster].nodes[node].outstanding, __ATOMIC_RELAXED);
    }
    return n;
}

static void region_rows(dom__text_t *t, const dom__server_t *srv, const dom__metrics_globals_t *g,
                        const dom__metrics_region_t *region)
{
    const dom_config_t *cfg = srv->config;
    dom__text_printf(t, "<tr class=\"region\" data-region=\"");
    dom__html_escape(t, region->name);
    dom__text_printf(t, "\" data-health=\"%s\"><th colspan=\"3\">Region ", region->nodes_up ? "up" : "down");
    dom__html_escape(t, region->name);
    dom__text_printf(t, "</th><th colspan=\"4\" class=\"%s\">%s: %zu of %zu node%s up</th></tr>\n",
                     region->nodes_up ? "up" : "down", region->nodes_up ? "up" : "DOWN", region->nodes_up,
                     region->nodes, region->nodes == 1 ? "" : "s");
    size_t flat = 0;
    for (size_t c = 0; c < cfg->n_clusters; ++c) {
        const dom_config_cluster_t *cl = &cfg->clusters[c];
        for (size_t k = 0; k < cl->n_nodes; ++k, ++flat) {
            if (strcmp(cl->region, region->name) != 0 || flat >= g->n_nodes)
                continue;
            const dom__metrics_node_t *n = &g->nodes[flat];
            dom__text_printf(t, "<tr class=\"node\" data-region=\"");
            dom__html_escape(t, region->name);
            dom__text_printf(t, "\" data-health=\"%s\"><td>", n->up ? "up" : "down");
            dom__html_escape(t, cl->name);
            dom__text_printf(t, "</td><td><code>");
            dom__html_escape(t, n->url);
            dom__text_printf(t,
                             "</code></td><td class=\"%s\">%s</td><td class=\"num\">%zu</td><td class=\"num\">%llu"
                             "</td><td class=\"num\">%llu</td><td class=\"num\">%llu</td></tr>\n",
                             n->up ? "up" : "down", n->up ? "up" : "down", outstanding(srv, c, k),
                             (unsigned long long)n->check_failures, (unsigned long long)n->passive_failures,
                             (unsigned long long)n->transitions);
        }
    }
}

static void recent_table(dom__text_t *t, const dom__recent_row_t *rows, size_t n, int refusal, const char *what)
{
    size_t shown = 0;
    dom__text_printf(t, "<table id=\"%s\"><thead><tr><th scope=\"col\">%s</th>", refusal ? "refusals" : "requests",
                     what);
    for (int m = DOM__RECENT_MINUTES - 1; m >= 0; --m)
        dom__text_printf(t, m == 0 ? "<th scope=\"col\">this minute</th>" : "<th scope=\"col\">&minus;%d min</th>", m);
    dom__text_printf(t, "<th scope=\"col\">total</th></tr></thead><tbody>\n");
    for (size_t i = 0; i < n; ++i) {
        if (rows[i].refusal != refusal)
            continue;
        uint64_t total = 0;
        dom__text_printf(t, "<tr><th scope=\"row\">");
        dom__html_escape(t, rows[i].name);
        dom__text_printf(t, "</th>");
        for (int m = DOM__RECENT_MINUTES - 1; m >= 0; --m) {
            dom__text_printf(t, "<td class=\"num\">%llu</td>", (unsigned long long)rows[i].counts[m]);
            total += rows[i].counts[m];
        }
        dom__text_printf(t, "<td class=\"num\">%llu</td></tr>\n", (unsigned long long)total);
        ++shown;
    }
    if (shown == 0)
        dom__text_printf(t, "<tr><td colspan=\"%d\">none in the last %d minutes</td></tr>\n", DOM__RECENT_MINUTES + 2,
                         DOM__RECENT_MINUTES);
    dom__text_printf(t, "</tbody></table>\n");
}

void dom__admin_status_page(dom__server_t *srv, const dom__metrics_globals_t *g, const dom_ruleset_t *rules,
                            const char *not_ready, dom__text_t *t)
{
    const dom_config_t *cfg = srv->config;
    char buf[64];
    page_start(t, srv, "domicile status", 1);
    dom__text_printf(t, "<h1>domicile <code>");
    dom__html_escape(t, g->instance);
    dom__text_printf(t, "</code>: <span id=\"readiness\" class=\"%s\">%s</span></h1>\n", not_ready ? "down" : "up",
                     not_ready ? "not ready" : "ready");
    if (not_ready != NULL) {
        dom__text_printf(t, "<p class=\"error\">Not ready: ");
        dom__html_escape(t, not_ready);
        dom__text_printf(t, "</p>\n");
    }
    dom__text_printf(t, "<p>Version 0.1.0, %zu worker thread%s, started ", srv->n_workers,
                     srv->n_workers == 1 ? "" : "s");
    when(t, g->start_time);
    dom__text_printf(t, "; this page refreshes every %d s (generated ", REFRESH_SECONDS);
    when(t, (int64_t)time(NULL));
    dom__text_printf(t, ").</p>\n<h2>What decides</h2>\n<dl id=\"state\">");
    dl_text(t, "Config", cfg->file);
    snprintf(buf, sizeof(buf), "%.16s, generation %llu", g->config_sha256 ? g->config_sha256 : "?",
             (unsigned long long)g->config_generation);
    dl_text(t, "Config sha256", buf);
    dom__text_printf(t, "<dt>Config loaded</dt><dd>");
    when(t, g->config_loaded_at);
    dom__text_printf(t, "</dd>");
    if (rules != NULL) {
        dl_text(t, "Rules database", g->rules_path);
        dom__text_printf(t, "<dt>Ruleset</dt><dd>hash <code id=\"ruleset-hash\">");
        dom__html_escape(t, rules->hash);
        dom__text_printf(t, "</code>, generation %llu, source sha256 <code id=\"rules-hash\">",
                         (unsigned long long)g->rules_generation);
        dom__html_escape(t, g->rules_hash);
        dom__text_printf(t, "</code>, compiled ");
        when(t, g->rules_compiled_at);
        dom__text_printf(t, ", loaded ");
        when(t, g->rules_loaded_at);
        dom__text_printf(t, "; %zu jurisdiction versions</dd>", rules->n_jurisdictions);
    } else {
        dl_text(t, "Ruleset", "none loaded (every request is refused)");
    }
    if (g->geo_loaded) {
        dl_text(t, "Geo database", g->geo_path);
        dom__text_printf(t, "<dt>Geo version</dt><dd>");
        dom__html_escape(t, g->geo_type);
        dom__text_printf(t, ", built ");
        when(t, (int64_t)g->geo_build_epoch);
        dom__text_printf(t, ", sha256 <code id=\"geo-hash\">");
        dom__html_escape(t, g->geo_sha256);
        dom__text_printf(t, "</code>, loaded ");
        when(t, g->geo_loaded_at);
        dom__text_printf(t, "</dd>");
    } else {
        dl_text(t, "Geo database", "none (every location is unknown)");
    }
    dom__text_printf(t, "</dl>\n<h2>Regions, clusters and nodes</h2>\n<table id=\"regions\"><thead><tr>"
                        "<th scope=\"col\">Cluster</th><th scope=\"col\">Node</th><th scope=\"col\">Health</th>"
                        "<th scope=\"col\">Outstanding</th><th scope=\"col\">Check failures</th>"
                        "<th scope=\"col\">Passive failures</th><th scope=\"col\">Transitions</th></tr></thead>"
                        "<tbody>\n");
    for (size_t i = 0; i < g->n_regions; ++i)
        region_rows(t, srv, g, &g->regions[i]);
    /* regions the rules know but no cluster serves: a route there is refused (451 no_compliant_region) */
    for (size_t i = 0; rules != NULL && i < rules->n_regions; ++i) {
        size_t k = 0;
        while (k < g->n_regions && strcmp(g->regions[k].name, rules->regions[i].name) != 0)
            ++k;
        if (k < g->n_regions)
            continue;
        dom__text_printf(t, "<tr class=\"region\" data-region=\"");
        dom__html_escape(t, rules->regions[i].name);
        dom__text_printf(t, "\" data-health=\"none\"><th colspan=\"3\">Region ");
        dom__html_escape(t, rules->regions[i].name);
        dom__text_printf(t, "</th><th colspan=\"4\">no cluster serves it</th></tr>\n");
    }
    dom__text_printf(t, "</tbody></table>\n");

    dom__recent_t **threads = calloc(srv->n_workers ? srv->n_workers : 1, sizeof(*threads));
    dom__recent_row_t *rows = calloc(2 * DOM__RECENT_NAMES, sizeof(*rows));
    size_t n = 0;
    if (threads != NULL && rows != NULL) {
        for (size_t i = 0; i < srv->n_workers; ++i)
            threads[i] = &srv->workers[i].recent;
        n = dom__recent_sum(threads, srv->n_workers, (int64_t)time(NULL), rows, 2 * DOM__RECENT_NAMES);
    }
    dom__text_printf(t, "<h2>Requests per jurisdiction, last %d minutes</h2>\n", DOM__RECENT_MINUTES);
    recent_table(t, rows, n, 0, "Jurisdiction");
    dom__text_printf(t, "<h2>Refusals per reason, last %d minutes</h2>\n", DOM__RECENT_MINUTES);
    recent_table(t, rows, n, 1, "Reason");
    free(threads);
    free(rows);

    dom__event_t events[DOM__EVENTS_KEPT];
    size_t n_events = dom__events_get(events, DOM__EVENTS_KEPT);
    dom__text_printf(t, "<h2>Recent reload events</h2>\n<table id=\"events\"><thead><tr><th scope=\"col\">Time</th>"
                        "<th scope=\"col\">Outcome</th><th scope=\"col\">Event</th></tr></thead><tbody>\n");
    for (size_t i = 0; i < n_events; ++i) {
        dom__text_printf(t, "<tr><td>");
        when(t, events[i].time);
        dom__text_printf(t, "</td><td class=\"%s\">%s</td><td>", events[i].failed ? "down" : "up",
                         events[i].failed ? "refused" : "applied");
        dom__html_escape(t, events[i].text);
        dom__text_printf(t, "</td></tr>\n");
    }
    if (n_events == 0)
        dom__text_printf(t, "<tr><td colspan=\"3\">none since the start (SIGHUP, a replaced rules or geo "
                            "file)</td></tr>\n");
    dom__text_printf(t, "</tbody></table>\n</body>\n</html>\n");
}

/* ---- the decision explorer ---- */

static int hex(int c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* Decodes one %-encoded value of field f into out (room for end - s + 1 bytes): 0, or -1 with a message. */
static int decode_value(size_t f, const char *s, const char *end, char *out, char *err, size_t errlen)
{
    size_t n = 0;
    for (; s < end; ++s) {
        int c = (unsigned char)*s;
        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            int hi = end - s >= 3 ? hex(s[1]) : -1, lo = end - s >= 3 ? hex(s[2]) : -1;
            if (hi < 0 || lo < 0) {
                snprintf(err, errlen, "malformed form: field %s has a broken %%-escape", fields[f].name);
                return -1;
            }
            c = hi << 4 | lo;
            s += 2;
        }
        if (c == 0) {
            snprintf(err, errlen, "field %s contains a NUL byte", fields[f].name);
            return -1;
        }
        out[n++] = (char)c;
    }
    out[n] = '\0';
    if (n > fields[f].max) {
        snprintf(err, errlen, "field %s is too long: %zu bytes, at most %zu", fields[f].name, n, fields[f].max);
        return -1;
    }
    return 0;
}

/*
 * Decodes an application/x-www-form-urlencoded query into values[] (malloc'd, by fields[] index).
 * 0, or -1 with a message: an unknown or repeated field, a bad %-escape, a NUL byte, a value over its bound
 * (the value of the field at fault is dropped, so the form is shown again without it).
 */
static int decode_form(const char *query, char *values[N_FIELDS], char *err, size_t errlen)
{
    const char *p = query;
    while (*p != '\0') {
        const char *end = strchr(p, '&'), *eq;
        if (end == NULL)
            end = p + strlen(p);
        eq = memchr(p, '=', (size_t)(end - p));
        if (eq == NULL) {
            snprintf(err, errlen, "malformed form: \"%.32s\" has no '='", p);
            return -1;
        }
        size_t f = 0;
        while (f < N_FIELDS && !(strlen(fields[f].name) == (size_t)(eq - p) && memcmp(fields[f].name, p, eq - p) == 0))
            ++f;
        if (f == N_FIELDS) {
            snprintf(err, errlen, "unknown field \"%.*s\" (the form has ip, method, path, headers, pin, consent)",
                     (int)((eq - p) < 32 ? eq - p : 32), p);
            return -1;
        }
        if (values[f] != NULL) {
            snprintf(err, errlen, "field %s is given twice", fields[f].name);
            return -1;
        }
        if ((values[f] = malloc((size_t)(end - eq))) == NULL) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        if (decode_value(f, eq + 1, end, values[f], err, errlen) != 0) {
            free(values[f]);
            values[f] = NULL;
            return -1;
        }
        p = *end == '&' ? end + 1 : end;
    }
    return 0;
}

static void explorer_form(dom__text_t *t, char *const values[N_FIELDS])
{
    dom__text_printf(t, "<form id=\"explorer\" method=\"get\" action=\"/explain\">\n");
    for (size_t f = 0; f < N_FIELDS; ++f) {
        const char *v = values[f] != NULL ? values[f] : "";
        dom__text_printf(t, "<label for=\"f-%s\">%s <small>(at most %zu bytes)</small></label>", fields[f].name,
                         fields[f].label, fields[f].max);
        if (strcmp(fields[f].name, "headers") == 0) {
            dom__text_printf(t, "<textarea id=\"f-headers\" name=\"headers\" rows=\"3\" placeholder=\"X-Forwarded-For: "
                                "203.0.113.7\">");
            dom__html_escape(t, v);
            dom__text_printf(t, "</textarea>\n");
        } else {
            dom__text_printf(t, "<input id=\"f-%s\" name=\"%s\" value=\"", fields[f].name, fields[f].name);
            dom__html_escape(t, v);
            dom__text_printf(t, "\"%s>\n", strcmp(fields[f].name, "ip") == 0 ? " required" : "");
        }
    }
    dom__text_printf(t, "<p><button type=\"submit\">Explain</button></p>\n</form>\n");
}

int dom__admin_explorer(dom__server_t *srv, const char *query, dom__text_t *t)
{
    char *values[N_FIELDS] = {0}, err[512] = "";
    char *words = NULL, *json = NULL;
    size_t words_len = 0, json_len = 0;
    int status = 200, asked = query != NULL && query[0] != '\0';
    if (asked && decode_form(query, values, err, sizeof(err)) != 0)
        status = 400;
    page_start(t, srv, "domicile decision explorer", 0);
    dom__text_printf(t, "<h1>Decision explorer</h1>\n<p>What the gateway decides for one request, with the "
                        "configuration, geo database and rules it uses now: the answer of "
                        "<code>domicile explain -c ");
    dom__html_escape(t, srv->config->file);
    dom__text_printf(t, "</code>, every node taken as up.</p>\n");
    if (asked && status == 200) {
        dom__live_t *live = dom__live_acquire(&srv->live, NULL);
        dom_ruleset_t *rules = dom__live_rules(&srv->live, NULL);
        FILE *wf = open_memstream(&words, &words_len), *jf = open_memstream(&json, &json_len);
        if (rules == NULL) {
            status = 503;
            snprintf(err, sizeof(err), "no rules are loaded: every request is refused (503 no_rules)");
        } else if (wf == NULL || jf == NULL) {
            status = 500;
            snprintf(err, sizeof(err), "out of memory");
        } else {
            dom__explain_live_t in = {.config = live->settings->config,
                                      .geo = live->geo,
                                      .rules = rules,
                                      .n_pin_keys = live->settings->keyring.count,
                                      .now = (int64_t)time(NULL)};
            dom_config_facts(live->settings->config, &live->settings->keyring, live->geo, &in.facts);
            dom__explain_form_t form = {values[0], values[1], values[2], values[3], values[4], values[5]};
            int rc = dom__explain_live(&in, &form, wf, jf, err, sizeof(err));
            if (rc != 0)
                status = rc == DOM_EINVAL ? 400 : 500;
        }
        if (wf != NULL)
            fclose(wf); /* words and json hold the text from here on */
        if (jf != NULL)
            fclose(jf);
        dom_ruleset_release(rules);
        dom__live_release(live);
    }
    if (status != 200) {
        dom__text_printf(t, "<p id=\"error\" class=\"error\" role=\"alert\">Refused (%d): ", status);
        dom__html_escape(t, err);
        dom__text_printf(t, "</p>\n");
    }
    explorer_form(t, values);
    if (status == 200 && asked && words != NULL && json != NULL) {
        dom__text_printf(t, "<section id=\"answer\"><h2>The decision, in words</h2>\n<pre id=\"explain-words\">");
        dom__html_escape(t, words);
        dom__text_printf(t, "</pre>\n<h2>The same as JSON (<code>domicile explain --json</code>)</h2>\n"
                            "<pre id=\"explain-json\">");
        dom__html_escape(t, json);
        dom__text_printf(t, "</pre>\n</section>\n");
    }
    dom__text_printf(t, "</body>\n</html>\n");
    free(words);
    free(json);
    for (size_t f = 0; f < N_FIELDS; ++f)
        free(values[f]);
    return status;
}

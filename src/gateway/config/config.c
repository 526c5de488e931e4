/*
 * The gateway's YAML configuration (docs/config.md) into dom_config_t, along the tables of
 * section.h: the top-level table is here, each section's in its own file. Every problem is
 * reported as file:line:col: message, like `nginx -t`, and the walk goes on, so one run shows
 * every problem. Unknown keys are errors: a typo in a residency gateway's config must never
 * silently mean "default".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>
#include <openssl/sha.h>
#include "domicile/keyfile.h"
#include "gateway/config/section.h"

#define MAX_THREADS 256
#define MAX_DEPTH 32
#define MAX_ERRORS 200
#define MAX_FILE (16u << 20)

enum {
    K_THREADS,
    K_INSTANCE,
    K_LISTEN,
    K_TRUSTED,
    K_GEO,
    K_OVERRIDES,
    K_RULES,
    K_PINS,
    K_CONSENT,
    K_CONSENT_SECTION,
    K_LIMITS,
    K_EXPOSE,
    K_TRAILERS,
    K_STRIP,
    K_REFUSE_METHODS,
    K_PATHS,
    K_CLUSTERS,
    K_ADMIN,
    K_AUDIT
};

/* instance: this replica's name in /status, metrics and audit lines (1-63 of letters, digits, '.', '_', '-') */
static void parse_instance(dom__config_parser_t *p, const dom__config_key_t *row, yaml_node_t *v, void *obj)
{
    dom_config_t *cfg = obj;
    const char *s = dom__config_scalar(p, row, v);
    size_t n = s != NULL ? strlen(s) : 0;
    if (s == NULL)
        return;
    if (n == 0 || n > DOM_NAME_MAX ||
        strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") != n) {
        dom__yaml_error(&p->y, v, "instance must be 1 to %d letters, digits, '.', '_' or '-'", DOM_NAME_MAX);
        return;
    }
    char *d = dom__config_strdup(p, s);
    if (d != NULL) {
        free(cfg->instance);
        cfg->instance = d;
    }
}

static const char *const path_modes[] = {"strict", "canonicalize", NULL}; /* dom_path_mode_t */
_Static_assert(DOM_PATHS_STRICT == 0 && DOM_PATHS_CANONICALIZE == 1 && sizeof(dom_path_mode_t) == sizeof(int),
               "paths is read as an index into path_modes");

static const dom__config_key_t top_keys[] = {
    [K_THREADS] = {.name = "threads",
                   .kind = DOM__CFG_UINT,
                   .offset = offsetof(dom_config_t, threads),
                   .parse = dom__config_parse_count,
                   .reload = DOM__RELOAD_RESTART,
                   .min = 1,
                   .max = MAX_THREADS},
    [K_INSTANCE] = {.name = "instance",
                    .kind = DOM__CFG_STR,
                    .offset = offsetof(dom_config_t, instance),
                    .parse = parse_instance,
                    .reload = DOM__RELOAD_RESTART,
                    .note = "restart (default: the host name)"},
    [K_LISTEN] = {.name = "listen",
                  .kind = DOM__CFG_OTHER,
                  .parse = dom__config_parse_listen,
                  .reload = DOM__RELOAD_RESTART,
                  .section = &dom__config_listener,
                  .equal = dom__config_listen_equal,
                  .release = dom__config_listen_release},
    [K_TRUSTED] = {.name = "trusted_proxies",
                   .kind = DOM__CFG_OTHER,
                   .parse = dom__config_parse_trusted,
                   .reload = DOM__RELOAD_LIVE,
                   .equal = dom__config_trusted_equal,
                   .release = dom__config_trusted_release},
    [K_GEO] = {.name = "geo", .kind = DOM__CFG_SECTION, .section = &dom__config_geo},
    [K_OVERRIDES] = {.name = "overrides",
                     .kind = DOM__CFG_OTHER,
                     .parse = dom__config_parse_overrides,
                     .reload = DOM__RELOAD_LIVE,
                     .section = &dom__config_override,
                     .equal = dom__config_overrides_equal,
                     .release = dom__config_overrides_release},
    [K_RULES] = {.name = "rules",
                 .kind = DOM__CFG_STR,
                 .offset = offsetof(dom_config_t, rules),
                 .parse = dom__config_parse_str_path,
                 .reload = DOM__RELOAD_RESTART,
                 .mark = DOM__MARK(dom_config_t, rules_mark),
                 .note = "restart (the path: the database itself is reloaded whenever a compile commits)"},
    [K_PINS] = {.name = "pins", .kind = DOM__CFG_SECTION, .section = &dom__config_pins},
    [K_CONSENT] = {.name = "consent_header",
                   .kind = DOM__CFG_STR,
                   .offset = offsetof(dom_config_t, consent_header),
                   .parse = dom__config_parse_header,
                   .reload = DOM__RELOAD_LIVE,
                   .def_str = DOM_DEFAULT_CONSENT_HEADER},
    [K_CONSENT_SECTION] = {.name = "consent", .kind = DOM__CFG_SECTION, .section = &dom__config_consent},
    [K_LIMITS] = {.name = "limits", .kind = DOM__CFG_SECTION, .section = &dom__config_limits},
    [K_EXPOSE] = {.name = "expose_decision_headers",
                  .kind = DOM__CFG_INT,
                  .offset = offsetof(dom_config_t, expose_decision_headers),
                  .parse = dom__config_parse_bool,
                  .reload = DOM__RELOAD_LIVE},
    [K_TRAILERS] = {.name = "forward_trailers",
                    .kind = DOM__CFG_INT,
                    .offset = offsetof(dom_config_t, forward_trailers),
                    .parse = dom__config_parse_bool,
                    .reload = DOM__RELOAD_LIVE,
                    .note = "live (HTTP/2 request trailers go upstream, after the decision; default off)"},
    [K_STRIP] = {.name = "anonymize_strip_headers",
                 .kind = DOM__CFG_OTHER,
                 .parse = dom__config_parse_strip_headers,
                 .reload = DOM__RELOAD_LIVE,
                 .equal = dom__config_strip_headers_equal,
                 .release = dom__config_strip_headers_release},
    [K_REFUSE_METHODS] = {.name = "refuse_methods",
                          .kind = DOM__CFG_OTHER,
                          .parse = dom__config_parse_refuse_methods,
                          .reload = DOM__RELOAD_LIVE,
                          .equal = dom__config_refuse_methods_equal,
                          .release = dom__config_refuse_methods_release},
    [K_PATHS] = {.name = "paths",
                 .kind = DOM__CFG_INT,
                 .offset = offsetof(dom_config_t, paths),
                 .parse = dom__config_parse_enum,
                 .reload = DOM__RELOAD_LIVE,
                 .choices = path_modes},
    [K_CLUSTERS] = {.name = "clusters",
                    .kind = DOM__CFG_OTHER,
                    .parse = dom__config_parse_clusters,
                    .reload = DOM__RELOAD_RESTART,
                    .section = &dom__config_cluster,
                    .equal = dom__config_clusters_equal,
                    .release = dom__config_clusters_release},
    [K_ADMIN] = {.name = "admin", .kind = DOM__CFG_SECTION, .section = &dom__config_admin},
    [K_AUDIT] = {.name = "audit", .kind = DOM__CFG_SECTION, .section = &dom__config_audit},
};

/* What the whole file needs, whatever else is wrong in it (each said once: no echo of another error). */
static void check_top(dom__config_parser_t *p, yaml_node_t *map, void *obj, const dom__yaml_keys_t *seen)
{
    dom_config_t *cfg = obj;
    dom__config_clusters_resolve(p, cfg);
    if (!dom__yaml_has(seen, K_LISTEN))
        dom__yaml_error(&p->y, map, "no listeners: add a \"listen\" list");
    if (!dom__yaml_has(seen, K_RULES))
        dom__yaml_error(&p->y, map, "no rules database: add \"rules: path/to/rules.mdb\"");
    if (cfg->n_clusters == 0)
        dom__yaml_warn(&p->y, map, "no clusters: every routed request gets 451 no_compliant_region");
    /* a PROXY header is believed only from trusted_proxies: without any, every connection is refused */
    for (size_t i = 0; i < cfg->n_listeners; ++i)
        if (cfg->listeners[i].proxy_protocol && cfg->trusted_proxies.count == 0)
            dom__yaml_report(&p->y, NULL, &cfg->listeners[i].mark, 1,
                             "listener %s has proxy_protocol: true but trusted_proxies is empty: every "
                             "connection will be refused; list the load balancers that send the PROXY header",
                             cfg->listeners[i].address ? cfg->listeners[i].address : "");
}

const dom__config_section_t dom__config_top = {"the configuration", "", top_keys,
                                               sizeof(top_keys) / sizeof(top_keys[0]), check_top};

/* ---- walking the tables ---- */

void dom__config_walk_keys(dom__config_parser_t *p, const dom__config_section_t *s, yaml_node_t *map, void *obj,
                           dom__yaml_keys_t *seen)
{
    if (dom__yaml_expect(&p->y, map, YAML_MAPPING_NODE, s->name) != 0)
        return;
    const dom__config_section_t *outer = p->section;
    DOM__YAML_FOR_PAIRS(&p->y, map, pair)
    {
        yaml_node_t *k = dom__yaml_node(&p->y, pair->key), *v = dom__yaml_node(&p->y, pair->value);
        int i = k != NULL && v != NULL ? dom__yaml_key(&p->y, seen, k, s->name) : -1;
        if (i < 0)
            continue;
        const dom__config_key_t *row = &s->keys[i];
        if (row->mark != 0)
            *(dom_mark_t *)(void *)((char *)obj + row->mark - 1) = dom__yaml_mark(v);
        p->section = s;
        if (row->kind == DOM__CFG_SECTION)
            dom__config_walk(p, row->section, v, obj);
        else
            row->parse(p, row, v, obj);
        p->section = outer;
    }
    if (s->check != NULL && !p->y.stop) {
        p->section = s;
        s->check(p, map, obj, seen);
        p->section = outer;
    }
}

void dom__config_walk(dom__config_parser_t *p, const dom__config_section_t *s, yaml_node_t *map, void *obj)
{
    dom__yaml_keys_t seen = DOM__YAML_KEY_ROWS(s->keys, s->n_keys);
    dom__config_walk_keys(p, s, map, obj, &seen);
}

void dom__config_defaults(dom__config_parser_t *p, const dom__config_section_t *s, void *obj)
{
    for (size_t i = 0; i < s->n_keys; ++i) {
        const dom__config_key_t *row = &s->keys[i];
        switch (row->kind) {
        case DOM__CFG_SECTION:
            dom__config_defaults(p, row->section, obj);
            break;
        case DOM__CFG_STR:
            if (row->def_str != NULL)
                *DOM__FIELD(char *, row, obj) = dom__config_strdup(p, row->def_str);
            break;
        case DOM__CFG_U64:
            *DOM__FIELD(uint64_t, row, obj) = row->def;
            break;
        case DOM__CFG_UINT:
            *DOM__FIELD(unsigned, row, obj) = (unsigned)row->def;
            break;
        case DOM__CFG_INT:
            *DOM__FIELD(int, row, obj) = (int)row->def;
            break;
        default:
            break;
        }
    }
}

static int str_eq(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static int row_equal(const dom__config_key_t *row, const void *a, const void *b)
{
    switch (row->kind) {
    case DOM__CFG_SECTION:
        return dom__config_section_equal(row->section, a, b);
    case DOM__CFG_STR:
        return str_eq(*DOM__FIELD(char *, row, a), *DOM__FIELD(char *, row, b));
    case DOM__CFG_CHARS:
        return strcmp(DOM__FIELD(char, row, a), DOM__FIELD(char, row, b)) == 0;
    case DOM__CFG_U64:
        return *DOM__FIELD(uint64_t, row, a) == *DOM__FIELD(uint64_t, row, b);
    case DOM__CFG_UINT:
        return *DOM__FIELD(unsigned, row, a) == *DOM__FIELD(unsigned, row, b);
    case DOM__CFG_INT:
        return *DOM__FIELD(int, row, a) == *DOM__FIELD(int, row, b);
    default:
        return row->equal(a, b);
    }
}

int dom__config_section_equal(const dom__config_section_t *s, const void *a, const void *b)
{
    for (size_t i = 0; i < s->n_keys; ++i)
        if (!row_equal(&s->keys[i], a, b))
            return 0;
    return 1;
}

void dom__config_section_release(const dom__config_section_t *s, void *obj)
{
    for (size_t i = 0; i < s->n_keys; ++i) {
        const dom__config_key_t *row = &s->keys[i];
        if (row->kind == DOM__CFG_SECTION) {
            dom__config_section_release(row->section, obj);
        } else if (row->kind == DOM__CFG_STR) {
            free(*DOM__FIELD(char *, row, obj));
            *DOM__FIELD(char *, row, obj) = NULL;
        } else if (row->kind == DOM__CFG_OTHER && row->release != NULL) {
            row->release(obj);
        }
    }
}

/* ---- loading ---- */

static void parse_document(dom__yaml_t *y, yaml_node_t *root, size_t index, void *arg)
{
    dom__config_parser_t *p = arg;
    if (index > 0) /* a second document would be silently ignored: refuse it */
        dom__yaml_error(y, root, "only one YAML document is allowed in the configuration");
    else
        dom__config_walk(p, &dom__config_top, root, p->cfg);
}

static int load(const char *name, const char *dir, const char *buf, size_t len, dom_config_t **out, dom_diag_t *diag,
                int partial)
{
    dom_diag_t stderr_diag = {0};
    if (diag == NULL)
        diag = &stderr_diag;
    size_t errors_before = diag->errors;
    int ret = DOM_ENOMEM;
    dom_config_t *cfg = calloc(1, sizeof(*cfg));
    *out = NULL;
    if (cfg == NULL)
        goto cleanup;
    dom__config_parser_t p = {.y = {.file = name, .diag = diag, .max_errors = errors_before + MAX_ERRORS}, .cfg = cfg};
    if ((cfg->file = strdup(name)) == NULL || (cfg->dir = strdup(dir != NULL ? dir : ".")) == NULL)
        goto cleanup;
    dom__config_defaults(&p, &dom__config_top, cfg);
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    cfg->threads = ncpu < 1 ? 1 : ncpu > MAX_THREADS ? MAX_THREADS : (unsigned)ncpu;
    char host[256] = "";
    if (gethostname(host, sizeof(host) - 1) != 0 || host[0] == '\0')
        snprintf(host, sizeof(host), "domicile");
    host[DOM_NAME_MAX] = '\0';
    if ((cfg->instance = strdup(host)) == NULL)
        goto cleanup;
    if (dom__yaml_load(&p.y, buf, len, MAX_DEPTH, parse_document, &p) == 0)
        dom_diag_report(diag, name, NULL, 0, "the configuration is empty");
    if (p.oom)
        goto cleanup;
    ret = diag->errors == errors_before ? DOM_OK : DOM_ECONFIG;

cleanup:
    if (ret == DOM_OK || (ret == DOM_ECONFIG && partial))
        *out = cfg;
    else
        dom_config_free(cfg);
    if (ret == DOM_ENOMEM)
        dom_diag_report(diag, name, NULL, 0, "out of memory");
    return ret;
}

int dom_config_load_buffer(const char *name, const char *dir, const char *buf, size_t len, dom_config_t **out,
                           dom_diag_t *diag)
{
    return load(name, dir, buf, len, out, diag, 0);
}

static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        return strdup(".");
    if (slash == path)
        return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

static int load_file(const char *path, dom_config_t **out, dom_diag_t *diag, int partial)
{
    *out = NULL;
    FILE *fp = fopen(path, "rb");
    if (fp == NULL) {
        dom_diag_report(diag, path, NULL, 0, "cannot open: %s", strerror(errno));
        return DOM_EIO;
    }
    char *buf = NULL, *dir = NULL;
    size_t len = 0, cap = 0;
    int ret = DOM_EIO;
    for (;;) {
        if (len == cap) {
            if (cap >= MAX_FILE) {
                dom_diag_report(diag, path, NULL, 0, "file is larger than 16 MiB");
                goto cleanup;
            }
            cap = cap ? cap * 2 : 8192;
            char *nb = realloc(buf, cap);
            if (nb == NULL) {
                ret = DOM_ENOMEM;
                goto cleanup;
            }
            buf = nb;
        }
        size_t got = fread(buf + len, 1, cap - len, fp);
        len += got;
        if (got == 0)
            break;
    }
    if (ferror(fp)) {
        dom_diag_report(diag, path, NULL, 0, "read error: %s", strerror(errno));
        goto cleanup;
    }
    if ((dir = dir_of(path)) == NULL) {
        ret = DOM_ENOMEM;
        goto cleanup;
    }
    ret = load(path, dir, buf, len, out, diag, partial);
    if (*out != NULL) { /* which config runs: /status and the fleet view compare it */
        unsigned char digest[SHA256_DIGEST_LENGTH];
        SHA256((const unsigned char *)buf, len, digest);
        for (size_t i = 0; i < sizeof(digest); ++i)
            snprintf((*out)->sha256 + 2 * i, 3, "%02x", digest[i]);
    }
cleanup:
    fclose(fp);
    free(buf);
    free(dir);
    return ret;
}

int dom_config_load(const char *path, dom_config_t **out, dom_diag_t *diag)
{
    return load_file(path, out, diag, 0);
}

int dom_config_load_partial(const char *path, dom_config_t **out, dom_diag_t *diag)
{
    return load_file(path, out, diag, 1);
}

void dom_config_free(dom_config_t *cfg)
{
    if (cfg == NULL)
        return;
    dom__config_section_release(&dom__config_top, cfg);
    free(cfg->file);
    free(cfg->dir);
    free(cfg);
}

/* ---- SIGHUP: the tables say what changed and what applies ---- */

struct compare {
    const dom_config_t *run, *cur;
    dom_config_t *next;
    dom_config_change_fn fn;
    void *ctx;
    int (*keep[8])(dom_config_t *next, const dom_config_t *cur);
    size_t n_keep;
};

static void compare_rows(struct compare *c, const dom__config_section_t *s, const char *prefix)
{
    for (size_t i = 0; i < s->n_keys; ++i) {
        const dom__config_key_t *row = &s->keys[i];
        char path[128];
        snprintf(path, sizeof(path), "%s%s", prefix, row->name);
        if (row->kind == DOM__CFG_SECTION) {
            strncat(path, ".", sizeof(path) - strlen(path) - 1);
            compare_rows(c, row->section, path);
        } else if (row->reload == DOM__RELOAD_RESTART) {
            if (!row_equal(row, c->run, c->next))
                c->fn(c->ctx, path, 0, NULL);
        } else if (row->live_if != NULL && !row->live_if(c->run, c->next)) {
            if (!row_equal(row, c->cur, c->next))
                c->fn(c->ctx, path, 0, row->refused);
            size_t k = 0;
            while (k < c->n_keep && c->keep[k] != row->keep)
                ++k;
            if (k == c->n_keep && k < sizeof(c->keep) / sizeof(c->keep[0]))
                c->keep[c->n_keep++] = row->keep;
        } else if (!row_equal(row, c->cur, c->next)) {
            c->fn(c->ctx, path, 1, NULL);
        }
    }
}

int dom_config_compare(const dom_config_t *run, const dom_config_t *cur, dom_config_t *next, dom_config_change_fn fn,
                       void *ctx)
{
    struct compare c = {run, cur, next, fn, ctx, {NULL}, 0};
    compare_rows(&c, &dom__config_top, "");
    /* after every key is classified: a kept value must not hide a change of a key that shares it */
    for (size_t k = 0; k < c.n_keep; ++k)
        if (c.keep[k](next, cur) != 0)
            return DOM_ENOMEM;
    return 0;
}

/* The row (or section of rows) that `path` names, "limits.max_body"; NULL if none. */
static const dom__config_key_t *find_row(const dom__config_section_t *s, const char *path)
{
    size_t n = strcspn(path, ".");
    for (size_t i = 0; i < s->n_keys; ++i) {
        const dom__config_key_t *row = &s->keys[i];
        if (strlen(row->name) != n || strncmp(row->name, path, n) != 0)
            continue;
        if (path[n] == '\0')
            return row;
        return row->kind == DOM__CFG_SECTION ? find_row(row->section, path + n + 1) : NULL;
    }
    return NULL;
}

int dom_config_same(const char *path, const dom_config_t *a, const dom_config_t *b)
{
    const dom__config_key_t *row = find_row(&dom__config_top, path);
    return row != NULL && row_equal(row, a, b);
}

static void print_rows(FILE *fp, const dom__config_section_t *s, const char *prefix, const dom__config_key_t *list)
{
    for (size_t i = 0; i < s->n_keys; ++i) {
        const dom__config_key_t *row = &s->keys[i];
        char path[128];
        snprintf(path, sizeof(path), "%s%s", prefix, row->name);
        if (row->kind == DOM__CFG_SECTION) {
            strncat(path, ".", sizeof(path) - strlen(path) - 1);
            print_rows(fp, row->section, path, list);
            continue;
        }
        if (list == NULL && row->section != NULL) { /* a list of items: each item's keys, reloaded as the list */
            strncat(path, "[].", sizeof(path) - strlen(path) - 1);
            print_rows(fp, row->section, path, row);
            continue;
        }
        const dom__config_key_t *how = list != NULL ? list : row;
        const char *what = how->note != NULL ? how->note : how->reload == DOM__RELOAD_LIVE ? "live" : "restart";
        fprintf(fp, "| `%s` | %s |\n", path, what);
    }
}

void dom_config_keys_markdown(FILE *fp)
{
    fputs("| key | on SIGHUP |\n|-----|-----------|\n", fp);
    print_rows(fp, &dom__config_top, "", NULL);
}

/* ---- checks against other files ---- */

size_t dom_config_check_secrets(const dom_config_t *cfg, dom_diag_t *diag)
{
    const struct {
        const char *what, *path;
        const dom_mark_t *mark;
    } files[] = {
        {"pin keys", cfg->pins.keys, &cfg->pins.mark},
        {"consent keys", cfg->consent.keys, &cfg->consent.keys_mark},
        {"audit.hash_key_file", cfg->audit.hash_key_file, &cfg->audit.hash_key_mark},
        {"audit.key_file", cfg->audit.key_file, &cfg->audit.key_mark},
        {"admin.token_file", cfg->admin.token_file, &cfg->admin.token_mark},
    };
    size_t errors = 0;
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); ++i) {
        char msg[1024];
        if (files[i].path == NULL)
            continue;
        int ret = dom_keyfile_check(files[i].what, files[i].path, msg, sizeof(msg));
        if (ret == DOM_EINVAL || ret == DOM_KEYFILE_WARNING)
            dom_diag_report(diag, cfg->file, files[i].mark, ret == DOM_KEYFILE_WARNING, "%s", msg);
        errors += ret == DOM_EINVAL;
    }
    return errors;
}

uint64_t dom_config_largest_body(const dom_config_t *cfg)
{
    uint64_t max = cfg->limits.max_body;
    for (size_t i = 0; i < cfg->limits.n_classes; ++i)
        if (cfg->limits.classes[i].max_body > max)
            max = cfg->limits.classes[i].max_body;
    return max;
}

static int region_has_cluster(const dom_config_t *cfg, const char *region)
{
    for (size_t i = 0; i < cfg->n_clusters; ++i)
        if (cfg->clusters[i].region != NULL && strcmp(cfg->clusters[i].region, region) == 0)
            return 1;
    return 0;
}

size_t dom_config_check_regions(const dom_config_t *cfg, const dom_ruleset_t *rules, dom_diag_t *diag)
{
    size_t errors = 0;
    for (size_t i = 0; i < cfg->n_clusters; ++i) {
        const dom_config_cluster_t *c = &cfg->clusters[i];
        if (c->region == NULL || dom_ruleset_region_index(rules, c->region) >= 0)
            continue;
        char known[512] = "";
        size_t off = 0;
        for (size_t r = 0; r < rules->n_regions && off < sizeof(known); ++r)
            off += (size_t)snprintf(known + off, sizeof(known) - off, "%s%s", r ? ", " : "", rules->regions[r].name);
        dom_diag_report(diag, cfg->file, &c->region_mark, 0,
                        "cluster \"%s\": the rules know no storage region \"%s\" (they know: %s)",
                        c->name != NULL ? c->name : "", c->region, known);
        ++errors;
    }
    for (size_t i = 0; i < cfg->limits.n_classes; ++i) {
        const dom_config_class_limit_t *cl = &cfg->limits.classes[i];
        int found = 0;
        for (size_t c = 0; c < rules->n_classes && !found; ++c)
            found = strcmp(rules->classes[c].name, cl->class_name) == 0;
        if (!found) {
            dom_diag_report(diag, cfg->file, &cl->mark, 0, "class_max_body: the rules know no class \"%s\"",
                            cl->class_name);
            ++errors;
        }
    }
    /* A region some rule allows but no cluster serves: legal to route there, impossible to. */
    for (size_t r = 0; r < rules->n_regions; ++r) {
        if (region_has_cluster(cfg, rules->regions[r].name))
            continue;
        const char *jname = NULL, *cname = NULL;
        for (size_t j = 0; j < rules->n_jurisdictions && jname == NULL; ++j) {
            const dom_jurisdiction_t *jur = &rules->jurisdictions[j];
            for (size_t c = 0; c < rules->n_classes && jname == NULL; ++c) {
                const dom_class_rule_t *cr = &jur->classes[c];
                for (size_t k = 0; k < cr->n_write && jname == NULL; ++k)
                    if (cr->write_regions[k] == r)
                        jname = jur->name, cname = rules->classes[c].name;
                for (size_t k = 0; k < cr->n_read && jname == NULL; ++k)
                    if (cr->read_regions[k] == r)
                        jname = jur->name, cname = rules->classes[c].name;
            }
        }
        if (jname != NULL)
            dom_diag_report(diag, cfg->file, NULL, 1,
                            "region \"%s\" is allowed by the rules (e.g. %s, class %s) but no cluster serves it; "
                            "requests allowed only there get 451 no_compliant_region",
                            rules->regions[r].name, jname, cname);
    }
    return errors;
}

/*
 * `domicile explain`: runs the decision core (steps 1-5 of the request path) for one
 * request described on the command line, and prints every fact and step in words, or
 * as one JSON object for tools. It uses exactly the functions the gateway uses, so what
 * it says is what the gateway would do (short of cluster health, which it cannot know).
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include "cli/cli.h"
#include "domicile/policy.h"
#include "gateway/config.h"

#define MAX_HEADERS 64
#define MAX_TRUSTED 64
#define DEFAULT_PIN_HEADER "domicile-pin"
#define DEFAULT_CONSENT_HEADER "domicile-consent"

typedef struct header {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
} header_t;

typedef struct options {
    const char *config;
    const char *geo_db;
    const char *rules;
    const char *ip;
    const char *method;
    const char *path;
    const char *pin;
    const char *pin_keys;
    const char *now;
    const char *trusted[MAX_TRUSTED];
    size_t n_trusted;
    header_t headers[MAX_HEADERS];
    size_t n_headers;
    int json;
} options_t;

/* Everything explain found out, for either output form. */
typedef struct explanation {
    const options_t *opts;
    const dom_config_t *cfg;
    int64_t now;
    dom_addr_t peer;
    dom_clientip_t client;
    const char *geo_path; /* NULL: no database */
    dom_geo_t *geo;
    dom_geo_result_t geo_result;
    const char *rules_path;
    dom_ruleset_t *rules;
    int pin_present;
    int pin_status;
    int pin_from_header;
    const char *pin_token; /* the token checked */
    size_t pin_token_len;
    dom_pin_t pin;
    size_t n_pin_keys;
    char consent[1024];
    int has_consent;
    size_t ignored_headers; /* repeated pin or consent headers: the gateway uses the first */
    char path[2048];
    dom_decision_t decision;
    const dom_config_cluster_t *cluster; /* with -c: the cluster the gateway would try first */
} explanation_t;

static void usage(FILE *fp)
{
    fputs("usage: domicile explain --rules FILE --ip ADDR [options]\n"
          "       domicile explain -c CONFIG --ip ADDR [options]\n"
          "\n"
          "Prints the whole decision the gateway would make for one request.\n"
          "\n"
          "  -c, --config FILE      take geo database, overrides, rules, trusted proxies, pin keys,\n"
          "                         header names and clusters from a gateway config\n"
          "  --geo-db FILE          geo database (mmdb); without one every location is unknown\n"
          "  --rules FILE           compiled rules database (or a rules directory, checked on the fly)\n"
          "  --ip ADDR              client address; with forwarding headers, the peer's address\n"
          "  --method M             request method (default GET)\n"
          "  --path P               request path (default /); a query string is ignored\n"
          "  --pin TOKEN            residency pin (same as a domicile-pin header)\n"
          "  --pin-keys FILE        pin key file (without keys every pin is refused as unknown_key)\n"
          "  --header 'Name: value' a request header (repeatable): X-Forwarded-For, Forwarded,\n"
          "                         domicile-pin, domicile-consent\n"
          "  --trusted CIDR         a trusted proxy network (repeatable)\n"
          "  --now UNIX|YYYY-MM-DD  the time to decide at (default: now), for staged rules and pins\n"
          "  --json                 print one JSON object instead of words\n"
          "\n"
          "Exit status: 0 a decision was made (route or reject), 1 an input cannot be used, 2 usage.\n",
          fp);
}

static int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("domicile explain: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs("\n(run `domicile explain --help` for the options)\n", stderr);
    va_end(ap);
    return 2;
}

static int input_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("domicile explain: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

/* ---- parsing the command line ---- */

static int is_tchar(int c)
{
    return isalnum(c) || (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static int parse_header(const char *arg, header_t *h)
{
    const char *colon = strchr(arg, ':');
    if (colon == NULL || colon == arg)
        return -1;
    for (const char *p = arg; p < colon; ++p)
        if (!is_tchar((unsigned char)*p))
            return -1;
    h->name = arg;
    h->name_len = (size_t)(colon - arg);
    const char *v = colon + 1, *end = v + strlen(v);
    while (v < end && (*v == ' ' || *v == '\t'))
        ++v;
    while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
        --end;
    for (const char *p = v; p < end; ++p)
        if (*p == '\r' || *p == '\n' || *p == '\0')
            return -1;
    h->value = v;
    h->value_len = (size_t)(end - v);
    return 0;
}

/* Unix seconds, YYYY-MM-DD (00:00 UTC) or YYYY-MM-DDTHH:MM:SSZ. */
static int parse_time(const char *s, int64_t *out)
{
    size_t n = strlen(s);
    if (n > 0 && n <= 12 && strspn(s, "0123456789") == n) {
        *out = (int64_t)strtoll(s, NULL, 10);
        return 0;
    }
    int y, mo, d, h = 0, mi = 0, sec = 0, used = 0;
    if (n == 10 && sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &used) == 3 && used == 10) {
    } else if (n == 20 && sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2dZ%n", &y, &mo, &d, &h, &mi, &sec, &used) == 6 &&
               used == 20) {
    } else {
        return -1;
    }
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return -1;
    struct tm tm = {0};
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    time_t t = timegm(&tm);
    struct tm back;
    /* timegm normalises 2026-02-31 into March: refuse dates that do not exist */
    if (t == (time_t)-1 || gmtime_r(&t, &back) == NULL || back.tm_mday != d || back.tm_mon != mo - 1)
        return -1;
    *out = (int64_t)t;
    return 0;
}

static int parse_args(int argc, char **argv, options_t *o)
{
    for (int i = 1; i < argc; ++i) {
        const char *arg = argv[i], *value = NULL;
        char name[32];
        /* --name=value and --name value */
        const char *eq = strncmp(arg, "--", 2) == 0 ? strchr(arg, '=') : NULL;
        if (eq != NULL && (size_t)(eq - arg) < sizeof(name)) {
            memcpy(name, arg, (size_t)(eq - arg));
            name[eq - arg] = '\0';
            arg = name;
            value = eq + 1;
        }
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            usage(stdout);
            return 1;
        }
        if (strcmp(arg, "--json") == 0) {
            if (value != NULL)
                return usage_error("--json takes no value");
            o->json = 1;
            continue;
        }
        /* the options that take one value, and where it goes; --trusted and --header repeat */
        const struct {
            const char *name;
            const char **field;
        } single[] = {{"-c", &o->config},     {"--config", &o->config}, {"--geo-db", &o->geo_db},
                      {"--rules", &o->rules}, {"--ip", &o->ip},         {"--method", &o->method},
                      {"--path", &o->path},   {"--pin", &o->pin},       {"--pin-keys", &o->pin_keys},
                      {"--now", &o->now}};
        size_t k;
        for (k = 0; k < sizeof(single) / sizeof(single[0]); ++k)
            if (strcmp(arg, single[k].name) == 0)
                break;
        int repeated = strcmp(arg, "--trusted") == 0 || strcmp(arg, "--header") == 0;
        if (k == sizeof(single) / sizeof(single[0]) && !repeated)
            return usage_error("unknown option \"%s\"", argv[i]);
        if (value == NULL) {
            if (i + 1 >= argc)
                return usage_error("%s needs a value", arg);
            value = argv[++i];
        }
        if (!repeated) {
            *single[k].field = value;
        } else if (strcmp(arg, "--trusted") == 0) {
            if (o->n_trusted == MAX_TRUSTED)
                return usage_error("at most %d --trusted networks", MAX_TRUSTED);
            o->trusted[o->n_trusted++] = value;
        } else { /* --header */
            if (o->n_headers == MAX_HEADERS)
                return usage_error("at most %d --header options", MAX_HEADERS);
            if (parse_header(value, &o->headers[o->n_headers]) != 0)
                return usage_error("--header wants 'Name: value' (a token name, no line breaks), got \"%s\"", value);
            ++o->n_headers;
        }
    }
    if (o->ip == NULL)
        return usage_error("--ip ADDR is required");
    if (o->rules == NULL && o->config == NULL)
        return usage_error("--rules FILE (or -c CONFIG) is required");
    if (o->method == NULL)
        o->method = "GET";
    if (o->method[0] == '\0' || strlen(o->method) > 32)
        return usage_error("--method must be an HTTP method token, got \"%s\"", o->method);
    for (const char *p = o->method; *p != '\0'; ++p)
        if (!is_tchar((unsigned char)*p))
            return usage_error("--method must be an HTTP method token, got \"%s\"", o->method);
    if (o->path == NULL)
        o->path = "/";
    if (o->path[0] != '/' && strcmp(o->path, "*") != 0)
        return usage_error("--path must start with '/', got \"%s\"", o->path);
    if (strlen(o->path) >= 2048)
        return usage_error("--path is too long (at most 2047 bytes)");
    return 0;
}

static int header_is(const header_t *h, const char *name)
{
    return strlen(name) == h->name_len && strncasecmp(h->name, name, h->name_len) == 0;
}

/* ---- gathering the facts ---- */

/*
 * The path the gateway classifies: h2o's normalized path (query cut off, %XX decoded, "."
 * and ".." segments removed), so that /v1/%61ccount or /v1/sync/../account explain as they
 * are routed. %00 stays encoded (a NUL would end the path for printing). Returns the length;
 * out (at least as large as the input) is NUL-terminated.
 */
static size_t normalize_path(const char *in, char *out, size_t outsize)
{
    size_t n = 0;
    for (const char *p = in; *p != '\0' && *p != '?' && *p != '#' && n + 1 < outsize; ++p) {
        int hi, lo;
        if (p[0] == '%' && (hi = dom__hex_digit((unsigned char)p[1])) >= 0 &&
            (lo = dom__hex_digit((unsigned char)p[2])) >= 0 && (hi | lo) != 0) {
            out[n++] = (char)(hi * 16 + lo);
            p += 2;
        } else {
            out[n++] = *p;
        }
    }
    out[n] = '\0';
    if (n == 0 || out[0] != '/')
        return n; /* "*" (OPTIONS) */
    /* RFC 3986 5.2.4, in place: segments are copied down, ".." drops the last one written */
    size_t w = 0, r = 0;
    while (r < n) {
        /* out[r] == '/' here: one segment is out[r+1 .. next '/') */
        size_t end = r + 1;
        while (end < n && out[end] != '/')
            ++end;
        size_t seg = end - (r + 1);
        int last = end == n;
        if (seg == 1 && out[r + 1] == '.') {
            if (last)
                out[w++] = '/';
        } else if (seg == 2 && out[r + 1] == '.' && out[r + 2] == '.') {
            while (w > 0 && out[w - 1] != '/')
                --w;
            if (w > 0)
                --w; /* the '/' before the dropped segment */
            if (last)
                out[w++] = '/';
        } else {
            memmove(out + w, out + r, seg + 1);
            w += seg + 1;
        }
        r = end;
    }
    if (w == 0)
        out[w++] = '/';
    out[w] = '\0';
    return w;
}

static int load_rules(explanation_t *e)
{
    struct stat st;
    char err[512] = "";
    if (stat(e->rules_path, &st) != 0)
        return input_error("cannot read rules %s: %s", e->rules_path, strerror(errno));
    if (S_ISDIR(st.st_mode)) {
        /* A rules directory is checked and used as is, so a rule change can be explained before compiling it. */
        dom_diag_t diag = {0};
        int ret = dom_rules_parse_dir(e->rules_path, &diag, &e->rules);
        if (ret != 0)
            return input_error("rules in %s cannot be used: %s", e->rules_path, dom_strerror(ret));
        return 0;
    }
    dom_rules_store_t *store = NULL;
    int ret = dom_rules_store_open(e->rules_path, &store, err, sizeof(err));
    if (ret != 0)
        return input_error("cannot use rules database %s: %s", e->rules_path, err[0] ? err : dom_strerror(ret));
    e->rules = dom_rules_store_current(store);
    dom_rules_store_close(store); /* the snapshot stays valid until released */
    if (e->rules == NULL)
        return input_error("rules database %s holds no rule set", e->rules_path);
    return 0;
}

static int gather(explanation_t *e, dom_cidr_list_t *trusted, dom_pin_keyring_t *ring)
{
    const options_t *o = e->opts;
    const dom_config_t *cfg = e->cfg;
    char err[512] = "";
    int ret;

    if (o->now != NULL) {
        if (parse_time(o->now, &e->now) != 0)
            return usage_error("--now wants unix seconds, YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ, got \"%s\"", o->now);
    } else {
        e->now = (int64_t)time(NULL);
    }

    /* step 1: the client address */
    if (dom_addr_parse(o->ip, strlen(o->ip), &e->peer) != 0)
        return usage_error("--ip wants an IPv4 or IPv6 address, got \"%s\"", o->ip);
    if (cfg != NULL)
        for (size_t i = 0; i < cfg->trusted_proxies.count; ++i)
            if (dom_cidr_list_add(trusted, &cfg->trusted_proxies.items[i]) != 0)
                return input_error("out of memory");
    for (size_t i = 0; i < o->n_trusted; ++i) {
        dom_cidr_t cidr;
        if (dom_cidr_parse(o->trusted[i], strlen(o->trusted[i]), &cidr) != 0)
            return usage_error("--trusted wants a network like 10.0.0.0/8 (no host bits set), got \"%s\"",
                               o->trusted[i]);
        if (dom_cidr_list_add(trusted, &cidr) != 0)
            return input_error("out of memory");
    }
    dom_strref_t xff[MAX_HEADERS], fwd[MAX_HEADERS];
    size_t n_xff = 0, n_fwd = 0;
    const char *pin_header = cfg != NULL && cfg->pins.header != NULL ? cfg->pins.header : DEFAULT_PIN_HEADER;
    const char *consent_header =
        cfg != NULL && cfg->consent_header != NULL ? cfg->consent_header : DEFAULT_CONSENT_HEADER;
    const header_t *pin_h = NULL;
    size_t consent_len = 0;
    for (size_t i = 0; i < o->n_headers; ++i) {
        const header_t *h = &o->headers[i];
        if (header_is(h, "x-forwarded-for")) {
            xff[n_xff++] = (dom_strref_t){h->value, h->value_len};
        } else if (header_is(h, "forwarded")) {
            fwd[n_fwd++] = (dom_strref_t){h->value, h->value_len};
        } else if (header_is(h, pin_header)) {
            /* the gateway (src/gateway/handler.c) uses the first pin and consent header: so does explain */
            if (pin_h == NULL)
                pin_h = h;
            else
                ++e->ignored_headers;
        } else if (header_is(h, consent_header)) {
            if (e->has_consent) {
                ++e->ignored_headers;
                continue;
            }
            if (h->value_len >= sizeof(e->consent))
                return usage_error("the %s header is too long (at most %zu bytes)", consent_header,
                                   sizeof(e->consent) - 1);
            memcpy(e->consent, h->value, h->value_len);
            consent_len = h->value_len;
            e->consent[consent_len] = '\0';
            e->has_consent = 1;
        }
    }
    dom_clientip_resolve(trusted, &e->peer, xff, n_xff, fwd, n_fwd, &e->client);

    /* step 2: where the client is */
    dom_geo_options_t geo_opts = {0};
    if (cfg != NULL) {
        geo_opts.shape = cfg->geo.shape;
        geo_opts.country_path = cfg->geo.country_path;
        geo_opts.subdivision_path = cfg->geo.subdivision_path;
        geo_opts.eu_path = cfg->geo.eu_path;
        geo_opts.overrides = cfg->overrides;
        geo_opts.n_overrides = cfg->n_overrides;
    }
    e->geo_path = o->geo_db != NULL ? o->geo_db : cfg != NULL ? cfg->geo.database : NULL;
    if (e->geo_path != NULL) {
        ret = dom_geo_open(e->geo_path, &geo_opts, &e->geo, err, sizeof(err));
        if (ret != 0)
            return input_error("cannot use geo database %s: %s", e->geo_path, err[0] ? err : dom_strerror(ret));
    } else if ((ret = dom_geo_open_none(&geo_opts, &e->geo)) != 0) {
        return input_error("cannot set up geolocation: %s", dom_strerror(ret));
    }
    dom_geo_lookup(e->geo, &e->client.addr, &e->geo_result);

    /* step 3: the pin */
    const char *keys = o->pin_keys != NULL ? o->pin_keys : cfg != NULL ? cfg->pins.keys : NULL;
    if (keys != NULL) {
        ret = dom_pin_keyring_load(keys, ring, err, sizeof(err));
        if (ret != 0)
            return input_error("cannot use pin keys %s", err[0] ? err : dom_strerror(ret));
        e->n_pin_keys = ring->count;
    }
    if (o->pin != NULL && pin_h != NULL)
        return usage_error("give the pin with --pin or a %s header, not both", pin_header);
    if (o->pin != NULL || pin_h != NULL) {
        e->pin_present = 1;
        e->pin_from_header = pin_h != NULL;
        e->pin_token = pin_h != NULL ? pin_h->value : o->pin;
        e->pin_token_len = pin_h != NULL ? pin_h->value_len : strlen(o->pin);
        e->pin_status = dom_pin_verify(ring, e->pin_token, e->pin_token_len, e->now, &e->pin);
    }

    /* step 4: the rules */
    e->rules_path = o->rules != NULL ? o->rules : cfg->rules;
    if (e->rules_path == NULL)
        return input_error("%s names no rules database", cfg->file);
    if ((ret = load_rules(e)) != 0)
        return ret;
    if (cfg != NULL)
        dom_config_check_regions(cfg, e->rules, NULL); /* clusters vs regions: printed to stderr */

    /* step 5: the decision */
    size_t path_len = normalize_path(o->path, e->path, sizeof(e->path));
    dom_request_facts_t facts = {
        .geo = &e->geo_result,
        .location_hidden = e->client.hidden,
        .pin_present = e->pin_present,
        .pin_status = e->pin_status,
        .pin = e->pin_present && e->pin_status == DOM_OK ? &e->pin : NULL,
        .method = o->method,
        .method_len = strlen(o->method),
        .path = e->path,
        .path_len = path_len,
        .consent = e->has_consent ? e->consent : NULL,
        .consent_len = consent_len,
        .now = e->now,
    };
    dom_decide(e->rules, &facts, &e->decision);

    /* step 6, as far as a config tells: the first cluster serving the first allowed region */
    if (cfg != NULL && e->decision.action == DOM_ACTION_ROUTE)
        for (size_t r = 0; r < e->decision.n_regions && e->cluster == NULL; ++r)
            for (size_t c = 0; c < cfg->n_clusters; ++c)
                if (strcmp(cfg->clusters[c].region, e->rules->regions[e->decision.regions[r]].name) == 0) {
                    e->cluster = &cfg->clusters[c];
                    break;
                }
    return 0;
}

/* ---- printing ---- */

static const char *client_source_name(dom_clientip_source_t s)
{
    switch (s) {
    case DOM_CLIENTIP_XFF:
        return "x-forwarded-for";
    case DOM_CLIENTIP_FORWARDED:
        return "forwarded";
    case DOM_CLIENTIP_PEER:
    default:
        return "peer";
    }
}

static const char *on_unavailable_name(dom_on_unavailable_t v)
{
    return v == DOM_ON_UNAVAILABLE_NEXT_REGION ? "next_region" : "reject";
}

static void format_date(int64_t t, char *buf, size_t len)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (gmtime_r(&tt, &tm) == NULL || strftime(buf, len, "%Y-%m-%d", &tm) == 0)
        snprintf(buf, len, "@%" PRId64, t);
}

/* Prints untrusted text (a path) for a terminal: controls and non-ASCII bytes as \xNN. */
static void print_text(FILE *fp, const char *s)
{
    for (; *s != '\0'; ++s) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x20 || c >= 0x7f || c == '\\')
            fprintf(fp, "\\x%02x", c);
        else
            fputc(c, fp);
    }
}

static void json_regions(FILE *fp, const dom_ruleset_t *rules, const uint16_t *regions, size_t n)
{
    fputc('[', fp);
    for (size_t i = 0; i < n; ++i) {
        if (i != 0)
            fputs(", ", fp);
        dom__cli_json_str(fp, regions[i] < rules->n_regions ? rules->regions[regions[i]].name : "?");
    }
    fputc(']', fp);
}

static int http_status(dom_action_t action, int status)
{
    return action == DOM_ACTION_ROUTE ? 200 : status;
}

static void print_json(FILE *fp, const explanation_t *e)
{
    const dom_decision_t *d = &e->decision;
    const dom_geo_result_t *g = &e->geo_result;
    const dom_jurisdiction_t *j = d->jurisdiction;
    char addr[64] = "", peer[64] = "", date[32];
    dom_addr_format(&e->client.addr, addr, sizeof(addr));
    dom_addr_format(&e->peer, peer, sizeof(peer));

    fputs("{\n  \"request\": {\"method\": ", fp);
    dom__cli_json_str(fp, e->opts->method);
    fputs(", \"path\": ", fp);
    dom__cli_json_str(fp, e->path);
    fputs(", \"raw_path\": ", fp);
    dom__cli_json_str(fp, e->opts->path);
    fprintf(fp, ", \"now\": %" PRId64 "},\n", e->now);

    fputs("  \"client\": {\"address\": ", fp);
    dom__cli_json_str(fp, addr);
    fputs(", \"source\": ", fp);
    dom__cli_json_str(fp, client_source_name(e->client.source));
    fputs(", \"peer\": ", fp);
    dom__cli_json_str(fp, peer);
    fprintf(fp, ", \"hidden\": %s, \"malformed\": %s},\n", e->client.hidden ? "true" : "false",
            e->client.malformed ? "true" : "false");

    fputs("  \"geo\": {\"country\": ", fp);
    dom__cli_json_str(fp, g->country[0] != '\0' ? g->country : NULL);
    fputs(", \"subdivision\": ", fp);
    dom__cli_json_str(fp, g->subdivision[0] != '\0' ? g->subdivision : NULL);
    fprintf(fp, ", \"in_eu\": %s, \"source\": ", g->in_eu ? "true" : "false");
    dom__cli_json_str(fp, dom_geo_source_name(g->source));
    fputs(", \"override_jurisdiction\": ", fp);
    dom__cli_json_str(fp, g->jurisdiction[0] != '\0' ? g->jurisdiction : NULL);
    fputs(", \"database\": ", fp);
    dom__cli_json_str(fp, e->geo_path);
    fputs("},\n", fp);

    if (e->pin_present) {
        fputs("  \"pin\": {\"status\": ", fp);
        dom__cli_json_str(fp, e->pin_status == DOM_OK ? "valid" : dom_pin_reason(e->pin_status));
        fputs(", \"jurisdiction\": ", fp);
        dom__cli_json_str(fp, e->pin.jurisdiction[0] != '\0' ? e->pin.jurisdiction : NULL);
        fputs(", \"kid\": ", fp);
        dom__cli_json_str(fp, e->pin.kid[0] != '\0' ? e->pin.kid : NULL);
        fprintf(fp, ", \"expiry\": %" PRId64 "},\n", e->pin.expiry);
    } else {
        fputs("  \"pin\": null,\n", fp);
    }

    fputs("  \"jurisdiction\": ", fp);
    dom__cli_json_str(fp, j != NULL ? j->name : NULL);
    fputs(",\n  \"jurisdiction_source\": ", fp);
    dom__cli_json_str(fp, dom_jurisdiction_source_name(d->source));
    fputs(",\n  \"rule_version\": ", fp);
    dom__cli_json_str(fp, j != NULL ? j->version : NULL);
    fputs(",\n  \"rule_effective\": ", fp);
    if (j != NULL) {
        format_date(j->effective, date, sizeof(date));
        dom__cli_json_str(fp, date);
    } else {
        fputs("null", fp);
    }
    fputs(",\n  \"rule_file\": ", fp);
    dom__cli_json_str(fp, j != NULL ? j->source_file : NULL);
    fputs(",\n  \"law\": ", fp);
    dom__cli_json_str(fp, j != NULL ? j->law : NULL);
    fputs(",\n  \"policy_url\": ", fp);
    dom__cli_json_str(fp, j != NULL ? j->policy_url : NULL);
    fputs(",\n  \"class\": ", fp);
    dom__cli_json_str(fp, d->class_name);
    fputs(",\n  \"access\": ", fp);
    dom__cli_json_str(fp, d->access == DOM_ACCESS_READ ? "read" : "write");
    fputs(",\n  \"action\": ", fp);
    dom__cli_json_str(fp, dom_action_name(d->action));
    fprintf(fp, ",\n  \"status\": %d", http_status(d->action, d->status));
    fputs(",\n  \"reason\": ", fp);
    dom__cli_json_str(fp, d->reason);
    fputs(",\n  \"regions\": ", fp);
    json_regions(fp, e->rules, d->regions, d->n_regions);
    fprintf(fp, ",\n  \"anonymize\": %s", d->anonymize ? "true" : "false");
    fputs(",\n  \"on_unavailable\": ", fp);
    dom__cli_json_str(fp, j != NULL ? on_unavailable_name(d->on_unavailable) : NULL);

    const dom_report_t *r = &d->report;
    if (r->present) {
        fputs(",\n  \"report\": {\"jurisdiction\": ", fp);
        dom__cli_json_str(fp, r->jurisdiction->name);
        fputs(", \"rule_version\": ", fp);
        dom__cli_json_str(fp, r->jurisdiction->version);
        fputs(", \"jurisdiction_source\": ", fp);
        dom__cli_json_str(fp, dom_jurisdiction_source_name(r->source));
        fputs(", \"action\": ", fp);
        dom__cli_json_str(fp, dom_action_name(r->action));
        fprintf(fp, ", \"status\": %d, \"reason\": ", http_status(r->action, r->status));
        dom__cli_json_str(fp, r->reason);
        fputs(", \"regions\": ", fp);
        json_regions(fp, e->rules, r->regions, r->n_regions);
        fprintf(fp, ", \"anonymize\": %s, \"differs\": %s}", r->anonymize ? "true" : "false",
                r->differs ? "true" : "false");
    } else {
        fputs(",\n  \"report\": null", fp);
    }

    fprintf(fp, ",\n  \"rules\": {\"generation\": %" PRIu64 ", \"source_hash\": ", e->rules->generation);
    dom__cli_json_str(fp, e->rules->source_hash);
    fputs(", \"path\": ", fp);
    dom__cli_json_str(fp, e->rules_path);
    fputs("}", fp);
    if (e->cfg != NULL) {
        fputs(",\n  \"cluster\": ", fp);
        dom__cli_json_str(fp, e->cluster != NULL ? e->cluster->name : NULL);
    }
    fputs("\n}\n", fp);
}

static void print_regions(FILE *fp, const dom_ruleset_t *rules, const uint16_t *regions, size_t n)
{
    for (size_t i = 0; i < n; ++i)
        fprintf(fp, "%s%s", i == 0 ? "" : ", ", regions[i] < rules->n_regions ? rules->regions[regions[i]].name : "?");
}

static const char *why_jurisdiction(const explanation_t *e)
{
    switch (e->decision.source) {
    case DOM_JSRC_PIN:
        return "the request carries a valid residency pin naming it (a pin beats any location)";
    case DOM_JSRC_OVERRIDE:
        return e->geo_result.jurisdiction[0] != '\0' ? "an operator override maps the client's network to it"
                                                     : "an operator override places the client's network in a "
                                                       "location it applies to";
    case DOM_JSRC_SUBDIVISION:
        return "it applies to the client's subdivision";
    case DOM_JSRC_COUNTRY:
        return "it applies to the client's country (no rule for the subdivision)";
    case DOM_JSRC_GROUP:
        return "it applies to a group containing the client's country (no rule for the subdivision or country)";
    case DOM_JSRC_DEFAULT:
        return "it is the default, for locations no other rule claims";
    default:
        return "";
    }
}

static const char *why_reason(const char *reason)
{
    static const struct {
        const char *reason, *words;
    } words[] = {
        {"routed", "the class may be stored in the regions below"},
        {"class_denied", "the jurisdiction forbids this class of data"},
        {"consent_required", "the class needs the user's consent, and the consent header does not name it"},
        {"no_allowed_region", "the rule allows no region for this access"},
        {"no_rules", "no rule set is loaded (fail closed)"},
        {"no_rule_for_location", "no rule applies to this location and there is no default"},
        {"pin_malformed", "the pin does not parse; an invalid pin is refused, never replaced by geolocation"},
        {"pin_unknown_key", "the pin is signed with a key this gateway does not hold"},
        {"pin_bad_signature", "the pin's signature does not verify"},
        {"pin_expired", "the pin has expired"},
        {"pin_unknown_jurisdiction", "the pin names a jurisdiction the rules do not enforce"},
        {"override_unknown_jurisdiction", "the override names a jurisdiction the rules do not enforce"},
    };
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); ++i)
        if (strcmp(reason, words[i].reason) == 0)
            return words[i].words;
    return "reason code given by the rule";
}

static const char *pin_refusal(const explanation_t *e)
{
    if (e->pin_status == DOM_EPIN_MALFORMED) {
        const char *why = dom_pin_malformed_why(e->pin_token, e->pin_token_len);
        if (why != NULL)
            return why;
    }
    return dom_strerror(e->pin_status);
}

static void print_words(FILE *fp, const explanation_t *e)
{
    const dom_decision_t *d = &e->decision;
    const dom_geo_result_t *g = &e->geo_result;
    const dom_jurisdiction_t *j = d->jurisdiction;
    char addr[64] = "", peer[64] = "", date[32];
    dom_addr_format(&e->client.addr, addr, sizeof(addr));
    dom_addr_format(&e->peer, peer, sizeof(peer));

    fprintf(fp, "request       %s ", e->opts->method);
    print_text(fp, e->opts->path);
    fputc('\n', fp);
    if (strcmp(e->opts->path, e->path) != 0) {
        fputs("  path       ", fp);
        print_text(fp, e->path);
        fputs(" (normalized as the gateway does: query cut, %XX decoded, dot segments removed)\n", fp);
    }
    if (e->ignored_headers != 0)
        fprintf(fp, "  note        %zu repeated pin/consent header%s ignored: the gateway uses the first\n",
                e->ignored_headers, e->ignored_headers == 1 ? "" : "s");
    format_date(e->now, date, sizeof(date));
    fprintf(fp, "decided at    %" PRId64 " (%s)\n", e->now, date);

    fprintf(fp, "client        %s", addr);
    if (e->client.source == DOM_CLIENTIP_PEER)
        fprintf(fp, " (the peer itself%s)\n",
                e->client.malformed ? "; a trusted proxy's forwarding header is malformed, so it was ignored" : "");
    else
        fprintf(fp, " (from %s; peer %s is a trusted proxy)\n",
                e->client.source == DOM_CLIENTIP_XFF ? "X-Forwarded-For" : "Forwarded", peer);
    if (e->client.hidden)
        fputs("              the forwarding chain hides the real client: its location is unknown (fail closed)\n", fp);

    fputs("location      ", fp);
    if (e->geo_path == NULL && g->source == DOM_GEO_NONE)
        fputs("unknown: no geo database given", fp);
    else if (g->source == DOM_GEO_SPECIAL)
        fputs("unknown: a special-purpose address (private, loopback, documentation, ...), whatever a database says",
              fp);
    else if (g->source == DOM_GEO_NONE)
        fputs("unknown: the address is not in the geo database", fp);
    else if (g->source == DOM_GEO_ERROR)
        fputs("unknown: the geo database lookup failed", fp);
    else if (g->jurisdiction[0] != '\0')
        fprintf(fp, "operator override to jurisdiction %s", g->jurisdiction);
    else
        fprintf(fp, "%s%s%s, %s the EU (%s)", g->country[0] ? g->country : "no country", g->subdivision[0] ? ", " : "",
                g->subdivision, g->in_eu ? "in" : "not in",
                g->source == DOM_GEO_OVERRIDE ? "an operator override" : "from the geo database");
    fputc('\n', fp);
    if (e->geo_path != NULL)
        fprintf(fp, "geo database  %s\n", e->geo_path);

    fputs("pin           ", fp);
    if (!e->pin_present)
        fputs("none", fp);
    else if (e->pin_status == DOM_OK)
        fprintf(fp, "valid: jurisdiction %s, key %s, expires %" PRId64, e->pin.jurisdiction, e->pin.kid, e->pin.expiry);
    else
        fprintf(fp, "refused: %s (%s)", dom_pin_reason(e->pin_status), pin_refusal(e));
    if (e->pin_present)
        fprintf(fp, " [%s; %zu key%s loaded]", e->pin_from_header ? "from the pin header" : "from --pin", e->n_pin_keys,
                e->n_pin_keys == 1 ? "" : "s");
    fputc('\n', fp);

    fprintf(fp, "rules         %s (generation %" PRIu64 ", sha256 %.12s)\n", e->rules_path, e->rules->generation,
            e->rules->source_hash);
    if (j != NULL) {
        format_date(j->effective, date, sizeof(date));
        fprintf(fp, "jurisdiction  %s, version %s (effective %s, %s)\n", j->name, j->version, date,
                j->source_file != NULL ? j->source_file : "?");
        fprintf(fp, "  why         %s: %s\n", dom_jurisdiction_source_name(d->source), why_jurisdiction(e));
        if (j->applies_to != NULL && j->applies_to[0] != '\0')
            fprintf(fp, "  applies to  %s\n", j->applies_to);
        if (j->law != NULL && j->law[0] != '\0')
            fprintf(fp, "  law         %s\n", j->law);
        if (j->policy_url != NULL && j->policy_url[0] != '\0')
            fprintf(fp, "  policy      %s\n", j->policy_url);
    } else {
        fputs("jurisdiction  none\n", fp);
    }
    if (d->class_name != NULL) {
        const dom_data_class_t *c = &e->rules->classes[d->class_index];
        fprintf(fp, "class         %s%s%s%s\n", c->name, c->description && c->description[0] ? " (" : "",
                c->description && c->description[0] ? c->description : "",
                c->description && c->description[0] ? ")" : "");
    }
    fprintf(fp, "access        %s (%s)\n", d->access == DOM_ACCESS_READ ? "read" : "write",
            d->access == DOM_ACCESS_READ ? "GET, HEAD and OPTIONS read" : "every method but GET, HEAD, OPTIONS writes");
    if (e->has_consent) {
        fputs("consent       ", fp);
        print_text(fp, e->consent);
        fputc('\n', fp);
    }

    if (d->action == DOM_ACTION_ROUTE) {
        fputs("decision      ROUTE to ", fp);
        print_regions(fp, e->rules, d->regions, d->n_regions);
        fprintf(fp, " (in this order)\n");
        fprintf(fp, "  anonymize   %s\n",
                d->anonymize ? "yes: identity (address, cookies, auth) stripped first" : "no");
        fprintf(fp, "  unavailable %s\n",
                d->on_unavailable == DOM_ON_UNAVAILABLE_NEXT_REGION
                    ? "try the next listed region (only listed ones)"
                    : "reject with 503 + Retry-After (never another region)");
    } else {
        fprintf(fp, "decision      REJECT %d %s\n", d->status, d->reason);
    }
    fprintf(fp, "  reason      %s: %s\n", d->reason, why_reason(d->reason));

    const dom_report_t *r = &d->report;
    if (r->present) {
        fprintf(fp, "report mode   %s version %s (%s) would %s", r->jurisdiction->name, r->jurisdiction->version,
                dom_jurisdiction_source_name(r->source), r->action == DOM_ACTION_ROUTE ? "ROUTE to " : "REJECT");
        if (r->action == DOM_ACTION_ROUTE)
            print_regions(fp, e->rules, r->regions, r->n_regions);
        else
            fprintf(fp, " %d %s", r->status, r->reason);
        fprintf(fp, "%s; %s (recorded, not applied)\n", r->anonymize ? ", anonymized" : "",
                r->differs ? "DIFFERS from the enforced decision" : "same as the enforced decision");
    } else {
        fputs("report mode   no report-mode rule in effect\n", fp);
    }

    if (e->cfg != NULL) {
        fputs("cluster       ", fp);
        if (d->action != DOM_ACTION_ROUTE)
            fputs("none (the request is refused)\n", fp);
        else if (e->cluster == NULL)
            fputs(
                "none: no configured cluster serves an allowed region (the gateway answers 451 no_compliant_region)\n",
                fp);
        else
            fprintf(fp, "%s (region %s, %zu node%s; the first healthy node is picked at run time)\n", e->cluster->name,
                    e->cluster->region, e->cluster->n_nodes, e->cluster->n_nodes == 1 ? "" : "s");
    }
}

int dom_cli_explain(int argc, char **argv)
{
    options_t opts;
    explanation_t e;
    dom_cidr_list_t trusted = {0};
    dom_pin_keyring_t ring = {0};
    dom_config_t *cfg = NULL;
    memset(&opts, 0, sizeof(opts));
    memset(&e, 0, sizeof(e));

    int ret = parse_args(argc, argv, &opts);
    if (ret != 0) {
        ret = ret == 1 ? 0 : ret; /* --help */
        goto out;
    }
    if (opts.config != NULL) {
        int err = dom_config_load(opts.config, &cfg, NULL);
        if (err != 0) {
            ret = input_error("cannot use config %s: %s", opts.config, dom_strerror(err));
            goto out;
        }
    }
    e.opts = &opts;
    e.cfg = cfg;
    if ((ret = gather(&e, &trusted, &ring)) != 0)
        goto out;
    if (opts.json)
        print_json(stdout, &e);
    else
        print_words(stdout, &e);
    if (fflush(stdout) != 0) {
        ret = input_error("cannot write the explanation: %s", strerror(errno));
        goto out;
    }
    ret = 0;

out:
    dom_ruleset_release(e.rules);
    dom_geo_release(e.geo);
    dom_pin_keyring_free(&ring);
    dom_cidr_list_free(&trusted);
    dom_config_free(cfg);
    return ret;
}

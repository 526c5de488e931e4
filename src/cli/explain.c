/*
 * `domicile explain`: runs the decision core (steps 1-5 of the request path) for one
 * request described on the command line, and prints every fact and step in words, or
 * as one JSON object for tools. It uses exactly the functions the gateway uses, so what
 * it says is what the gateway would do (short of cluster health, which it cannot know).
 */
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
#include "cli/explain.h"
#include "domicile/policy.h"
#include "util/time.h"
#include "util/validate.h"
#include "domicile/rules_record.h"
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
    dom_addr_t peer; /* --ip, parsed */
    const char *method;
    const char *path;
    const char *pin;
    const char *pin_keys;
    const char *consent;      /* --consent TOKEN: as a consent header */
    const char *consent_keys; /* --consent-keys FILE */
    const char *revocations;  /* --revocations FILE */
    const char *consent_mode; /* --consent-mode token|header */
    const char *now;
    const char *trusted[MAX_TRUSTED];
    size_t n_trusted;
    header_t headers[MAX_HEADERS];
    size_t n_headers;
    int json;
    int verbose; /* print the config's warnings (else one line counts them) */
} options_t;

/* Everything explain found out, for either output form. */
typedef struct explanation {
    const options_t *opts;
    const dom_config_t *cfg;
    dom_diag_t *diag; /* the config's diagnostics: errors printed, warnings as --verbose says */
    int64_t now;
    const char *geo_path; /* NULL: no database */
    dom_geo_t *geo;
    const char *rules_path;
    dom_ruleset_t *rules;
    int pin_from_header;
    size_t n_pin_keys;
    dom_pin_keyring_t consent_ring;
    dom_consent_revocations_t *revocations;
    dom_facts_config_t fc;     /* what the builder reads: as the gateway sets it from the config */
    char *path_buf;            /* the canonical path (facts.path points here) */
    dom_request_facts_t facts; /* steps 0-3, from the same builder the gateway uses */
    dom_decision_t decision;
    const dom_config_cluster_t *cluster; /* with -c: the cluster the gateway would try first, all nodes up */
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
          "  --consent TOKEN        consent token (same as a domicile-consent header)\n"
          "  --consent-keys FILE    consent key file (default: the config's consent.keys)\n"
          "  --revocations FILE     consent revocation list (default: the config's consent.revocations)\n"
          "  --consent-mode MODE    token (default) or header (unsigned class names; the config's consent.mode)\n"
          "  --header 'Name: value' a request header (repeatable): X-Forwarded-For, Forwarded,\n"
          "                         domicile-pin, domicile-consent\n"
          "  --trusted CIDR         a trusted proxy network (repeatable)\n"
          "  --now UNIX|YYYY-MM-DD  the time to decide at (default: now), for staged rules and pins\n"
          "  --json                 print one JSON object instead of words\n"
          "  -v, --verbose          print the config's warnings (without it: one line counts them)\n"
          "\n"
          "Exit status: 0 a decision was made (route or reject), 1 an input cannot be used, 2 usage.\n",
          fp);
}

/* Says what is wrong on stderr; returns the exit status: 2 for usage (with a pointer to --help), 1 for inputs. */
static int complain(int status, const char *fmt, va_list ap)
{
    fputs("domicile explain: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs(status == 2 ? "\n(run `domicile explain --help` for the options)\n" : "\n", stderr);
    return status;
}

__attribute__((format(printf, 1, 2))) static int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int status = complain(2, fmt, ap);
    va_end(ap);
    return status;
}

__attribute__((format(printf, 1, 2))) static int input_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int status = complain(1, fmt, ap);
    va_end(ap);
    return status;
}

/* ---- parsing the command line ---- */

static int parse_header(const char *arg, header_t *h)
{
    const char *colon = strchr(arg, ':');
    if (colon == NULL || colon == arg)
        return -1;
    if (!dom__valid_http_token(arg, (size_t)(colon - arg)))
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

/*
 * The checks of one request every way of asking passes (the command line, the admin listener's
 * explorer): an address, a method token (GET when none), a path (/ when none). ip_name and
 * method_name say what the asker calls those fields. 0, or -1 with what is wrong in why.
 */
static int check_request(options_t *o, const char *ip_name, const char *method_name, char *why, size_t len)
{
    if (o->ip == NULL || o->ip[0] == '\0') {
        snprintf(why, len, "%s ADDR is required", ip_name);
        return -1;
    }
    if (dom_addr_parse(o->ip, strlen(o->ip), &o->peer) != 0) {
        snprintf(why, len, "%s wants an IPv4 or IPv6 address, got \"%.64s\"", ip_name, o->ip);
        return -1;
    }
    if (o->method == NULL || o->method[0] == '\0')
        o->method = "GET";
    if (strlen(o->method) > 32 || !dom__valid_http_token(o->method, strlen(o->method))) {
        snprintf(why, len, "%s must be an HTTP method token, got \"%.64s\"", method_name, o->method);
        return -1;
    }
    if (o->path == NULL || o->path[0] == '\0')
        o->path = "/";
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
        if (strcmp(arg, "--verbose") == 0 || strcmp(arg, "-v") == 0) {
            if (value != NULL)
                return usage_error("--verbose takes no value");
            o->verbose = 1;
            continue;
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
        } single[] = {{"-c", &o->config},
                      {"--config", &o->config},
                      {"--geo-db", &o->geo_db},
                      {"--rules", &o->rules},
                      {"--ip", &o->ip},
                      {"--method", &o->method},
                      {"--path", &o->path},
                      {"--pin", &o->pin},
                      {"--pin-keys", &o->pin_keys},
                      {"--now", &o->now},
                      {"--consent", &o->consent},
                      {"--consent-keys", &o->consent_keys},
                      {"--revocations", &o->revocations},
                      {"--consent-mode", &o->consent_mode}};
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
    char why[256];
    if (check_request(o, "--ip", "--method", why, sizeof(why)) != 0)
        return usage_error("%s", why);
    if (o->rules == NULL && o->config == NULL)
        return usage_error("--rules FILE (or -c CONFIG) is required");
    return 0;
}

/* ---- gathering the facts ---- */

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

/* The cluster dom_pick() (the gateway's choice) takes first when every node is up. */
static const dom_config_cluster_t *first_cluster(const dom_config_t *cfg, const dom_ruleset_t *rules,
                                                 const dom_decision_t *d)
{
    const char *regions[DOM_MAX_REGIONS];
    size_t n = d->n_regions < DOM_MAX_REGIONS ? d->n_regions : DOM_MAX_REGIONS;
    for (size_t r = 0; r < n; ++r)
        regions[r] = d->regions[r] < rules->n_regions ? rules->regions[d->regions[r]].name : NULL;
    dom_pick_cluster_t *view = calloc(cfg->n_clusters + 1, sizeof(*view));
    dom_pick_node_t up = {.usable = 1};
    const dom_config_cluster_t *found = NULL;
    if (view == NULL)
        return NULL;
    for (size_t i = 0; i < cfg->n_clusters; ++i)
        view[i] = (dom_pick_cluster_t){.region = cfg->clusters[i].region, .nodes = &up, .n_nodes = 1};
    dom_pick_t pick;
    if (dom_pick(view, cfg->n_clusters, regions, n, d->on_unavailable, &pick) == DOM_PICK_OK)
        found = &cfg->clusters[pick.cluster];
    free(view);
    return found;
}

/* The geo handle the gateway would use: the config's database and reading options, or --geo-db. */
static int open_geo(explanation_t *e)
{
    const dom_config_t *cfg = e->cfg;
    char err[512] = "";
    dom_geo_options_t geo_opts = {0};
    if (cfg != NULL)
        geo_opts = dom_config_geo_options(cfg);
    e->geo_path = e->opts->geo_db != NULL ? e->opts->geo_db : cfg != NULL ? cfg->geo.database : NULL;
    int ret = e->geo_path != NULL ? dom_geo_open(e->geo_path, &geo_opts, &e->geo, err, sizeof(err))
                                  : dom_geo_open_none(&geo_opts, &e->geo);
    if (ret != 0 && e->geo_path != NULL)
        return input_error("cannot use geo database %s: %s", e->geo_path, err[0] ? err : dom_strerror(ret));
    if (ret != 0)
        return input_error("cannot set up geolocation: %s", dom_strerror(ret));
    return 0;
}

/* What every request is decided with: the time, trusted proxies, geo handle, pin keys and rules. */
static int prepare(explanation_t *e, dom_cidr_list_t *trusted, dom_pin_keyring_t *ring)
{
    const options_t *o = e->opts;
    const dom_config_t *cfg = e->cfg;
    char err[512] = "";
    int ret;

    if (o->now != NULL) {
        if (dom__time_parse(o->now, strlen(o->now), DOM__TIME_ANY, &e->now) != 0)
            return usage_error("--now wants " DOM__TIME_ANY_WORDS ", got \"%s\"", o->now);
    } else {
        e->now = (int64_t)time(NULL);
    }
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
    if ((ret = open_geo(e)) != 0)
        return ret;
    const char *keys = o->pin_keys != NULL ? o->pin_keys : cfg != NULL ? cfg->pins.keys : NULL;
    if (keys != NULL) {
        if ((ret = dom_pin_keyring_load(keys, ring, err, sizeof(err))) != 0)
            return input_error("cannot use pin keys %s", err[0] ? err : dom_strerror(ret));
        e->n_pin_keys = ring->count;
    }
    /* the facts builder's settings, as the gateway takes them from the config */
    e->fc = (dom_facts_config_t){.pin_header = DOM_DEFAULT_PIN_HEADER, .consent_header = DOM_DEFAULT_CONSENT_HEADER};
    if (cfg != NULL)
        dom_config_facts(cfg, ring, e->geo, &e->fc);
    e->fc.trusted = trusted;
    e->fc.keyring = ring;
    e->fc.geo = e->geo;
    /* consent: the config's mode, keys and revocation list, each replaceable by an option */
    if (o->consent_mode != NULL) {
        if (strcmp(o->consent_mode, "token") != 0 && strcmp(o->consent_mode, "header") != 0)
            return usage_error("--consent-mode wants token or header, got \"%s\"", o->consent_mode);
        e->fc.consent_mode = strcmp(o->consent_mode, "header") == 0 ? DOM_CONSENT_MODE_HEADER : DOM_CONSENT_MODE_TOKEN;
    }
    const char *ckeys = o->consent_keys != NULL ? o->consent_keys : cfg != NULL ? cfg->consent.keys : NULL;
    if (ckeys != NULL && (ret = dom_pin_keyring_load(ckeys, &e->consent_ring, err, sizeof(err))) != 0)
        return input_error("cannot use consent keys %s", err[0] ? err : dom_strerror(ret));
    const char *rev = o->revocations != NULL ? o->revocations : cfg != NULL ? cfg->consent.revocations : NULL;
    if (rev != NULL && (ret = dom_consent_revocations_load(rev, &e->revocations, err, sizeof(err))) != 0)
        return input_error("cannot use consent revocations %s", err[0] ? err : dom_strerror(ret));
    e->fc.consent_keyring = &e->consent_ring;
    e->fc.revocations = e->revocations;

    e->rules_path = o->rules != NULL ? o->rules : cfg->rules;
    if (e->rules_path == NULL)
        return input_error("%s names no rules database", cfg->file);
    if ((ret = load_rules(e)) != 0)
        return ret;
    if (cfg != NULL)
        dom_config_check_regions(cfg, e->rules, e->diag); /* clusters vs regions */
    return 0;
}

/* One request (e->opts): steps 0-3 through the gateway's own builder, the decision, the first cluster. */
static int explain_request(explanation_t *e)
{
    const options_t *o = e->opts;
    dom_facts_builder_t b;
    dom_facts_begin(&b, &e->fc);
    for (size_t i = 0; i < o->n_headers; ++i) {
        const header_t *h = &o->headers[i];
        dom_facts_header(&b, h->name, h->name_len, h->value, h->value_len);
    }
    e->pin_from_header = b.has_pin;
    if (o->pin != NULL) {
        if (b.has_pin)
            return usage_error("give the pin with --pin or a %s header, not both", e->fc.pin_header);
        dom_facts_header(&b, e->fc.pin_header, strlen(e->fc.pin_header), o->pin, strlen(o->pin));
    }
    if (o->consent != NULL) {
        if (b.has_consent)
            return usage_error("give consent with --consent or a %s header, not both", e->fc.consent_header);
        dom_facts_header(&b, e->fc.consent_header, strlen(e->fc.consent_header), o->consent, strlen(o->consent));
    }
    size_t cap = dom_facts_path_bufsize(&b, strlen(o->path));
    free(e->path_buf);
    if ((e->path_buf = malloc(cap)) == NULL)
        return input_error("out of memory");
    dom_facts_finish(&b, &o->peer, o->method, strlen(o->method), o->path, strlen(o->path), e->now, e->path_buf, cap,
                     &e->facts);
    dom_decide(e->rules, &e->facts, &e->decision);
    /* step 6, as far as a config tells: the gateway's own choice with every node up */
    e->cluster =
        e->cfg != NULL && e->decision.action == DOM_ACTION_ROUTE ? first_cluster(e->cfg, e->rules, &e->decision) : NULL;
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

/* Prints untrusted text (a path) for a terminal: controls and non-ASCII bytes as \xNN. */
static void print_text(FILE *fp, const char *s, size_t len)
{
    for (size_t i = 0; i < len; ++i) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c >= 0x7f || c == '\\')
            fprintf(fp, "\\x%02x", c);
        else
            fputc(c, fp);
    }
}

/* The body rule of the request's class (domicile/body.h): null when its bodies are not checked. */
static void json_body_rule(FILE *fp, const dom_ruleset_t *rules, const dom_decision_t *d)
{
    const dom_data_class_t *c = d->class_name != NULL ? &rules->classes[d->class_index] : NULL;
    if (c == NULL || c->body != DOM_BODY_JSON) {
        fputs(",\n  \"body\": null", fp);
        return;
    }
    fputs(",\n  \"body\": {\"format\": \"json\", \"identity_fields\": [", fp);
    size_t k = 0;
    for (const char *p = c->identity_fields != NULL ? c->identity_fields : ""; *p != '\0'; ++k) {
        size_t n = strcspn(p, ",");
        fprintf(fp, "%s\"%.*s\"", k ? ", " : "", (int)n, p); /* [A-Za-z0-9_-]: checked when compiled */
        p += n + (p[n] == ',');
    }
    fprintf(fp, "], \"identity\": \"%s\", \"identity_checked\": %s}", dom_identity_action_name(c->identity),
            d->anonymize && k != 0 ? "true" : "false");
}

static void text_body_rule(FILE *fp, const dom_ruleset_t *rules, const dom_decision_t *d)
{
    const dom_data_class_t *c = d->class_name != NULL ? &rules->classes[d->class_index] : NULL;
    if (c == NULL || c->body != DOM_BODY_JSON)
        return;
    const char *ids = c->identity_fields != NULL ? c->identity_fields : "";
    fputs("  body        JSON, checked whole before forwarding (not JSON: 400 invalid_json; other Content-Type: 415; "
          "compressed: 415)\n",
          fp);
    if (ids[0] == '\0')
        fputs("  identity    no identity fields listed for this class\n", fp);
    else if (!d->anonymize)
        fprintf(fp, "  identity    fields %s are not checked: this rule does not anonymize the class\n", ids);
    else if (c->identity == DOM_IDENTITY_SCRUB)
        fprintf(fp, "  identity    fields %s (any depth, ignoring case, '_' and '-') are removed before forwarding\n",
                ids);
    else
        fprintf(fp,
                "  identity    a body with fields %s (any depth, ignoring case, '_' and '-') is refused: 422 "
                "identity_in_anonymous_data\n",
                ids);
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

/*
 * Every jurisdiction that decided, the deciding one first ("jurisdictions"), why more than one did ("joint":
 * "pin" for a conflict of laws, "subdivision_unknown"), and whether the location's rules let the pin override.
 */
static void json_joined(FILE *fp, const dom_decision_t *d)
{
    fputs(",\n  \"jurisdictions\": [", fp);
    for (size_t i = 0; d->jurisdiction != NULL && i <= d->n_joined; ++i) {
        const dom_jurisdiction_t *j = i == 0 ? d->jurisdiction : d->joined[i - 1];
        fputs(i == 0 ? "{\"jurisdiction\": " : ", {\"jurisdiction\": ", fp);
        dom__cli_json_str(fp, j->name);
        fputs(", \"rule_version\": ", fp);
        dom__cli_json_str(fp, j->version);
        fputs(", \"jurisdiction_source\": ", fp);
        dom__cli_json_str(fp, dom_jurisdiction_source_name(i == 0 ? d->source : d->joined_source[i - 1]));
        fputs("}", fp);
    }
    fputs("],\n  \"joint\": [", fp);
    const char *sep = "";
    if (d->joint & DOM_JOINT_SUBDIVISIONS) {
        fputs("\"subdivision_unknown\"", fp);
        sep = ", ";
    }
    if (d->joint & DOM_JOINT_PIN)
        fprintf(fp, "%s\"pin\"", sep);
    fprintf(fp, "],\n  \"pin_overridden\": %s", d->pin_overridden ? "true" : "false");
}

static void print_json(FILE *fp, const explanation_t *e)
{
    const dom_decision_t *d = &e->decision;
    const dom_geo_result_t *g = &e->facts.geo;
    const dom_jurisdiction_t *j = d->jurisdiction;
    char addr[64] = "", peer[64] = "", date[32];
    dom_addr_format(&e->facts.client.addr, addr, sizeof(addr));
    dom_addr_format(&e->facts.peer, peer, sizeof(peer));

    fputs("{\n  \"request\": {\"method\": ", fp);
    dom__cli_json_str(fp, e->opts->method);
    fputs(", \"path\": ", fp);
    dom__cli_json_str(fp, e->facts.path);
    fputs(", \"raw_path\": ", fp);
    dom__cli_json_str(fp, e->opts->path);
    fputs(", \"path_refused\": ", fp);
    dom__cli_json_str(fp, e->facts.path_refused ? e->facts.path_why : NULL);
    fputs(", \"refused\": ", fp);
    dom__cli_json_str(fp, e->facts.request_refused ? e->facts.refused_why : NULL);
    fputs(", \"destination\": ", fp);
    dom__cli_json_str(fp, e->facts.destination);
    fputs(", \"destination_refused\": ", fp);
    dom__cli_json_str(fp, e->facts.destination_refused ? e->facts.destination_why : NULL);
    fputs(", \"destination_class\": ", fp);
    dom__cli_json_str(fp, e->decision.destination_class);
    fprintf(fp, ", \"now\": %" PRId64 "},\n", e->now);

    fputs("  \"client\": {\"address\": ", fp);
    dom__cli_json_str(fp, addr);
    fputs(", \"source\": ", fp);
    dom__cli_json_str(fp, client_source_name(e->facts.client.source));
    fputs(", \"peer\": ", fp);
    dom__cli_json_str(fp, peer);
    fprintf(fp, ", \"hidden\": %s, \"malformed\": %s},\n", e->facts.client.hidden ? "true" : "false",
            e->facts.client.malformed ? "true" : "false");

    fprintf(fp, "  \"geo\": {\"known\": %s, \"country\": ", e->facts.location_known ? "true" : "false");
    dom__cli_json_str(fp, g->country[0] != '\0' ? g->country : NULL);
    fputs(", \"subdivision\": ", fp);
    dom__cli_json_str(fp, g->subdivision[0] != '\0' ? g->subdivision : NULL);
    fprintf(fp, ", \"in_eu\": %s, \"in_eu_source\": ", g->in_eu ? "true" : "false");
    dom__cli_json_str(fp, g->country[0] != '\0' ? dom_geo_in_eu_source_name(g) : NULL);
    fputs(", \"source\": ", fp);
    dom__cli_json_str(fp, dom_geo_source_name(g->source));
    fputs(", \"override_jurisdiction\": ", fp);
    dom__cli_json_str(fp, g->jurisdiction[0] != '\0' ? g->jurisdiction : NULL);
    fputs(", \"database\": ", fp);
    dom__cli_json_str(fp, e->geo_path);
    fputs("},\n", fp);

    if (e->facts.pin_present) {
        fputs("  \"pin\": {\"status\": ", fp);
        dom__cli_json_str(fp, e->facts.pin_status == DOM_OK ? "valid" : dom_pin_reason(e->facts.pin_status));
        fputs(", \"jurisdiction\": ", fp);
        dom__cli_json_str(fp, e->facts.pin.jurisdiction[0] != '\0' ? e->facts.pin.jurisdiction : NULL);
        fputs(", \"kid\": ", fp);
        dom__cli_json_str(fp, e->facts.pin.kid[0] != '\0' ? e->facts.pin.kid : NULL);
        fprintf(fp, ", \"expiry\": %" PRId64 "},\n", e->facts.pin.expiry);
    } else {
        fputs("  \"pin\": null,\n", fp);
    }

    {
        const dom_request_facts_t *f = &e->facts;
        int genuine = f->consent != NULL && f->consent_mode == DOM_CONSENT_MODE_TOKEN &&
                      (f->consent_status == DOM_OK || f->consent_status == DOM_ECONSENT_EXPIRED ||
                       f->consent_status == DOM_ECONSENT_REVOKED);
        fprintf(fp, "  \"consent\": {\"gated\": %s, \"needed\": %s, \"mode\": \"%s\", \"status\": ",
                d->consent_gated ? "true" : "false", d->consent_checked ? "true" : "false",
                f->consent_mode == DOM_CONSENT_MODE_HEADER ? "header" : "token");
        dom__cli_json_str(fp, f->consent == NULL                           ? NULL
                              : f->consent_mode == DOM_CONSENT_MODE_HEADER ? "consent_claimed"
                                                                           : dom_consent_reason(f->consent_status));
        fputs(", \"id\": ", fp);
        dom__cli_json_str(fp, genuine ? f->consent_token.id : NULL);
        fputs(", \"scopes\": ", fp);
        dom__cli_json_str(fp, genuine ? f->consent_token.scopes : NULL);
        if (genuine)
            fprintf(fp, ", \"issued_at\": %" PRId64 ", \"expiry\": %" PRId64 "},\n", f->consent_token.issued_at,
                    f->consent_token.expiry);
        else
            fputs(", \"issued_at\": null, \"expiry\": null},\n", fp);
    }
    fputs("  \"jurisdiction\": ", fp);
    dom__cli_json_str(fp, j != NULL ? j->name : NULL);
    fputs(",\n  \"jurisdiction_source\": ", fp);
    dom__cli_json_str(fp, dom_jurisdiction_source_name(d->source));
    fputs(",\n  \"rule_version\": ", fp);
    dom__cli_json_str(fp, j != NULL ? j->version : NULL);
    fputs(",\n  \"rule_hash\": ", fp);
    dom__cli_json_str(fp, j != NULL ? j->hash : NULL);
    json_joined(fp, d);
    fputs(",\n  \"rule_effective\": ", fp);
    if (j != NULL) {
        dom__time_format(j->effective, DOM__TIME_FMT_DATE, date, sizeof(date));
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
    dom__cli_json_str(fp, dom_access_name(d->access));
    fputs(",\n  \"action\": ", fp);
    dom__cli_json_str(fp, dom_action_name(d->action));
    fprintf(fp, ",\n  \"status\": %d", http_status(d->action, d->status));
    fputs(",\n  \"reason\": ", fp);
    dom__cli_json_str(fp, d->reason);
    fputs(",\n  \"regions\": ", fp);
    json_regions(fp, e->rules, d->regions, d->n_regions);
    fprintf(fp, ",\n  \"anonymize\": %s", d->anonymize ? "true" : "false");
    json_body_rule(fp, e->rules, d);
    fputs(",\n  \"on_unavailable\": ", fp);
    dom__cli_json_str(fp, j != NULL ? dom_on_unavailable_name(d->on_unavailable) : NULL);

    const dom_report_t *r = &d->report;
    if (r->present) {
        fputs(",\n  \"report\": {\"jurisdiction\": ", fp);
        dom__cli_json_str(fp, r->jurisdiction->name);
        fputs(", \"rule_version\": ", fp);
        dom__cli_json_str(fp, r->jurisdiction->version);
        fputs(", \"rule_hash\": ", fp);
        dom__cli_json_str(fp, r->jurisdiction->hash);
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

    fputs(",\n  \"rules\": {\"ruleset\": ", fp);
    dom__cli_json_str(fp, e->rules->hash);
    fprintf(fp, ", \"generation\": %" PRIu64 ", \"source_hash\": ", e->rules->generation);
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
    int no_subdivision = e->facts.geo.subdivision[0] == '\0';
    switch (e->decision.source) {
    case DOM_JSRC_PIN:
        if (e->decision.pin_overridden)
            return "the request carries a valid residency pin naming it, and the rules of the client's location say "
                   "pins: override (the pin's jurisdiction applies alone)";
        if (!e->facts.location_known ||
            (e->facts.geo.source != DOM_GEO_DATABASE && e->facts.geo.source != DOM_GEO_OVERRIDE))
            return "the request carries a valid residency pin naming it; the location is unknown, so no law of the "
                   "place is known to intersect with (the pin's jurisdiction applies alone)";
        return "the request carries a valid residency pin naming it (the same jurisdiction as the client's "
               "location's, or the location has only the default, which names no law)";
    case DOM_JSRC_OVERRIDE:
        return e->facts.geo.jurisdiction[0] != '\0' ? "an operator override maps the client's network to it"
                                                    : "an operator override places the client's network in a "
                                                      "location it applies to";
    case DOM_JSRC_SUBDIVISION:
        return "it applies to the client's subdivision";
    case DOM_JSRC_COUNTRY:
        return no_subdivision ? "it applies to the client's country (the geo database gives no subdivision)"
                              : "it applies to the client's country (no rule for the subdivision)";
    case DOM_JSRC_GROUP:
        return no_subdivision ? "it applies to a group containing the client's country (no rule for the country; the "
                                "geo database gives no subdivision)"
                              : "it applies to a group containing the client's country (no rule for the subdivision "
                                "or country)";
    case DOM_JSRC_DEFAULT:
        return "it is the default, for locations no other rule claims";
    default:
        return "";
    }
}

/* The jurisdictions intersected with the one that decides (conflicts of law, unknown subdivision), in words. */
static void print_joined(FILE *fp, const explanation_t *e)
{
    const dom_decision_t *d = &e->decision;
    for (size_t i = 0; i < d->n_joined; ++i)
        fprintf(fp, "  and         %s, version %s (%s)\n", d->joined[i]->name, d->joined[i]->version,
                d->joined_source[i] == DOM_JSRC_PIN ? "named by the pin" : "a subdivision rule of the country");
    if (d->joint & DOM_JOINT_SUBDIVISIONS)
        fprintf(fp,
                "  unknown     the geo database does not say which subdivision of %s the client is in, and %s has "
                "subdivision rules: the country's rule and every subdivision rule apply together (only regions "
                "all of them allow; never the laxest)\n",
                e->facts.geo.country, e->facts.geo.country);
    if (d->joint & DOM_JOINT_PIN)
        fprintf(fp,
                "  conflict    the pin names %s, but the client's location is under %s: both laws apply (pins: "
                "intersect), so only regions both allow, in %s's order\n",
                d->pin_jurisdiction != NULL ? d->pin_jurisdiction->name : "?", d->jurisdiction->name,
                d->jurisdiction->name);
}

static const char *why_reason(const char *reason)
{
    static const struct {
        const char *reason, *words;
    } words[] = {
        {"routed", "the class may be stored in the regions below"},
        {"class_denied", "the jurisdiction forbids this class of data"},
        {"consent_required", "the class needs the user's consent for this access, and none was sent"},
        {"consent_malformed", "the consent token does not parse"},
        {"consent_unknown_key", "the consent token is signed with a key this gateway does not hold"},
        {"consent_bad_signature", "the consent token's signature does not verify: altered or forged"},
        {"consent_expired", "the consent token has expired"},
        {"consent_revoked", "the consent was withdrawn: the token is on the revocation list"},
        {"consent_wrong_scope", "the consent token is genuine but does not cover this class"},
        {"no_allowed_region", "the rule allows no region for this access"},
        {"no_rules", "no rule set is loaded (fail closed)"},
        {"no_rule_for_location", "no rule applies to this location and there is no default"},
        {"pin_malformed", "the pin does not parse; an invalid pin is refused, never replaced by geolocation"},
        {"pin_unknown_key", "the pin is signed with a key this gateway does not hold"},
        {"pin_bad_signature", "the pin's signature does not verify"},
        {"pin_expired", "the pin has expired"},
        {"pin_unknown_jurisdiction", "the pin names a jurisdiction the rules do not enforce"},
        {"override_unknown_jurisdiction", "the override names a jurisdiction the rules do not enforce"},
        {"non_canonical_path",
         "the path cannot be put in one canonical form without guessing what a server makes of it"},
        {"header_fields_too_large", "the request has more header fields or bytes than the bounds"},
        {"invalid_header", "a header field has no name"},
        {"invalid_method", "the method is not an HTTP token"},
        {"method_not_allowed", "the gateway refuses this method (CONNECT, TRACE, TRACK unless configured)"},
        {"invalid_destination", "MOVE and COPY need a Destination on this host that can be canonicalised"},
        {"destination_not_allowed", "the Destination's class may not be stored in any region the source may use"},
        {"conflict_of_laws", "the law of the client's location and the law the pin names allow no region in common"},
        {"subdivision_unknown",
         "the subdivision is unknown and the rules of the country's subdivisions allow no region in common"},
    };
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); ++i)
        if (strcmp(reason, words[i].reason) == 0)
            return words[i].words;
    return "reason code given by the rule";
}

static const char *pin_refusal(const explanation_t *e)
{
    if (e->facts.pin_status == DOM_EPIN_MALFORMED) {
        const char *why = dom_pin_malformed_why(e->facts.pin_token, e->facts.pin_token_len);
        if (why != NULL)
            return why;
    }
    return dom_strerror(e->facts.pin_status);
}

/* Whether the location is in the EU, and on whose word; a member state is never said to be outside the EU. */
static const char *eu_words(const dom_geo_result_t *g)
{
    int member = g->country[0] != '\0' && dom__iso_country_in_eu(g->country, 2);
    if (member && !g->in_eu)
        return "in the EU (an EU-27 member state, though the geo database's EU flag says not)";
    if (g->in_eu_derived)
        return g->in_eu ? "in the EU (derived from the EU-27 list: the geo database has no EU flag)"
                        : "not in the EU (derived from the EU-27 list: the geo database has no EU flag)";
    return g->in_eu ? "in the EU" : "not in the EU";
}

static void print_words(FILE *fp, const explanation_t *e)
{
    const dom_decision_t *d = &e->decision;
    const dom_geo_result_t *g = &e->facts.geo;
    const dom_jurisdiction_t *j = d->jurisdiction;
    char addr[64] = "", peer[64] = "", date[32];
    dom_addr_format(&e->facts.client.addr, addr, sizeof(addr));
    dom_addr_format(&e->facts.peer, peer, sizeof(peer));

    fprintf(fp, "request       %s ", e->opts->method);
    print_text(fp, e->opts->path, strlen(e->opts->path));
    fputc('\n', fp);
    if (e->facts.request_refused)
        fprintf(fp, "  refused     %s (%s)\n", e->facts.refused_why, e->facts.refused_reason);
    if (e->facts.path_refused) {
        fprintf(fp, "  path        not canonical: %s\n", e->facts.path_why);
    } else if (memcmp(e->opts->path, e->facts.path, e->facts.path_len) != 0 ||
               e->opts->path[e->facts.path_len] != (e->facts.query != NULL ? '?' : '\0')) {
        fputs("  path        ", fp);
        print_text(fp, e->facts.path, e->facts.path_len);
        fputs(" (canonical, as the gateway classifies and forwards it; the query is not classified)\n", fp);
    }
    if (e->facts.repeated_headers != 0)
        fprintf(fp, "  note        %zu repeated pin/consent header%s ignored: the gateway uses the first\n",
                e->facts.repeated_headers, e->facts.repeated_headers == 1 ? "" : "s");
    dom__time_format(e->now, DOM__TIME_FMT_DATE, date, sizeof(date));
    fprintf(fp, "decided at    %" PRId64 " (%s)\n", e->now, date);

    fprintf(fp, "client        %s", addr);
    if (e->facts.client.source == DOM_CLIENTIP_PEER)
        fprintf(fp, " (the peer itself%s)\n",
                e->facts.client.malformed ? "; a trusted proxy's forwarding header is malformed, so it was ignored"
                                          : "");
    else
        fprintf(fp, " (from %s; peer %s is a trusted proxy)\n",
                e->facts.client.source == DOM_CLIENTIP_XFF ? "X-Forwarded-For" : "Forwarded", peer);
    if (e->facts.client.hidden)
        fputs("              the forwarding chain hides the real client: its location is unknown (fail closed)\n", fp);

    fputs("location      ", fp);
    if (e->facts.client.malformed)
        fputs("unknown: a trusted proxy's forwarding header is malformed (never the proxy's own location)", fp);
    else if (e->facts.client.hidden)
        fputs("unknown: the forwarding chain hides the real client", fp);
    else if (e->geo_path == NULL && g->source == DOM_GEO_NONE)
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
        fprintf(fp, "%s%s%s, %s (%s)", g->country[0] ? g->country : "no country", g->subdivision[0] ? ", " : "",
                g->subdivision, eu_words(g),
                g->source == DOM_GEO_OVERRIDE ? "an operator override" : "from the geo database");
    fputc('\n', fp);
    if (e->geo_path != NULL)
        fprintf(fp, "geo database  %s\n", e->geo_path);

    fputs("pin           ", fp);
    if (!e->facts.pin_present)
        fputs("none", fp);
    else if (e->facts.pin_status == DOM_OK)
        fprintf(fp, "valid: jurisdiction %s, key %s, expires %" PRId64, e->facts.pin.jurisdiction, e->facts.pin.kid,
                e->facts.pin.expiry);
    else
        fprintf(fp, "refused: %s (%s)", dom_pin_reason(e->facts.pin_status), pin_refusal(e));
    if (e->facts.pin_present)
        fprintf(fp, " [%s; %zu key%s loaded]", e->pin_from_header ? "from the pin header" : "from --pin", e->n_pin_keys,
                e->n_pin_keys == 1 ? "" : "s");
    fputc('\n', fp);

    fprintf(fp, "rules         %s (generation %" PRIu64 ", sha256 %.12s)\n", e->rules_path, e->rules->generation,
            e->rules->source_hash);
    fprintf(fp, "  ruleset     %s\n", e->rules->hash);
    if (j != NULL) {
        dom__time_format(j->effective, DOM__TIME_FMT_DATE, date, sizeof(date));
        fprintf(fp, "jurisdiction  %s, version %s (effective %s, %s)\n", j->name, j->version, date,
                j->source_file != NULL ? j->source_file : "?");
        fprintf(fp, "  rule hash   %s (domicile rules show --hash prints its text)\n", j->hash);
        fprintf(fp, "  why         %s: %s\n", dom_jurisdiction_source_name(d->source), why_jurisdiction(e));
        print_joined(fp, e);
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
    fprintf(fp, "access        %s (%s)\n", dom_access_name(d->access),
            d->access == DOM_ACCESS_READ ? "GET, HEAD and OPTIONS read" : "every method but GET, HEAD, OPTIONS writes");
    if (d->consent_gated || e->facts.consent != NULL) {
        const dom_request_facts_t *f = &e->facts;
        fputs("consent       ", fp);
        if (!d->consent_gated)
            fputs("not asked: the class needs no consent", fp);
        else if (!d->consent_checked)
            fputs("not needed for this access (DELETE and reads of one's own data are never gated)", fp);
        else if (f->consent == NULL)
            fputs("required, none sent", fp);
        else if (f->consent_mode == DOM_CONSENT_MODE_HEADER) {
            fputs("claimed by an unsigned header (consent.mode: header): ", fp);
            print_text(fp, f->consent, f->consent_len);
        } else {
            fputs(dom_consent_reason(f->consent_status), fp);
        }
        fputc('\n', fp);
        if (f->consent != NULL && f->consent_mode == DOM_CONSENT_MODE_TOKEN &&
            (f->consent_status == DOM_OK || f->consent_status == DOM_ECONSENT_EXPIRED ||
             f->consent_status == DOM_ECONSENT_REVOKED))
            fprintf(fp, "  token       id %s, scopes %s, issued at %" PRId64 ", expires %" PRId64 "\n",
                    f->consent_token.id, f->consent_token.scopes, f->consent_token.issued_at, f->consent_token.expiry);
    }

    if (d->action == DOM_ACTION_ROUTE) {
        fputs("decision      ROUTE to ", fp);
        print_regions(fp, e->rules, d->regions, d->n_regions);
        fprintf(fp, " (in this order)\n");
        fprintf(fp, "  anonymize   %s\n",
                d->anonymize ? "yes: identity (address, cookies, auth) stripped first" : "no");
        text_body_rule(fp, e->rules, d);
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

static void print_diagnostic(void *ctx, const char *file, size_t line, size_t col, int is_warning, const char *message)
{
    const options_t *o = ctx;
    if (is_warning && !o->verbose)
        return;
    if (line != 0)
        fprintf(stderr, "%s:%zu:%zu: %s%s\n", file, line, col, is_warning ? "warning: " : "", message);
    else
        fprintf(stderr, "%s: %s%s\n", file, is_warning ? "warning: " : "", message);
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
    /* a config's warnings matter to whoever runs the gateway, not to each question asked of it: count them */
    dom_diag_t diag = {print_diagnostic, &opts, 0, 0};
    if (opts.config != NULL) {
        int err = dom_config_load(opts.config, &cfg, &diag);
        if (err != 0) {
            ret = input_error("cannot use config %s: %s", opts.config, dom_strerror(err));
            goto out;
        }
    }
    e.opts = &opts;
    e.cfg = cfg;
    e.diag = &diag;
    ret = prepare(&e, &trusted, &ring);
    if (diag.warnings != 0 && !opts.verbose)
        fprintf(stderr,
                "domicile explain: %s has %zu warning%s (--verbose shows them, as does `domicile serve -c %s "
                "--check`)\n",
                opts.config, diag.warnings, diag.warnings == 1 ? "" : "s", opts.config);
    if (ret != 0 || (ret = explain_request(&e)) != 0)
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
    dom_pin_keyring_free(&e.consent_ring);
    dom_consent_revocations_free(e.revocations);
    dom_cidr_list_free(&trusted);
    dom_config_free(cfg);
    free(e.path_buf);
    return ret;
}

/* ---- the admin listener's explorer (explain.h) ---- */

int dom__explain_live(const dom__explain_live_t *live, const dom__explain_form_t *form, FILE *words, FILE *json,
                      char *err, size_t errlen)
{
    options_t o;
    explanation_t e;
    char *lines = NULL;
    int ret = DOM_EINVAL;
    memset(&o, 0, sizeof(o));
    memset(&e, 0, sizeof(e));
    o.ip = form->ip;
    o.method = form->method;
    o.path = form->path;
    o.pin = form->pin != NULL && form->pin[0] != '\0' ? form->pin : NULL;
    if (check_request(&o, "address", "method", err, errlen) != 0)
        goto cleanup;
    /* header lines, each as --header takes it */
    if (form->headers != NULL && (lines = strdup(form->headers)) == NULL) {
        ret = DOM_ENOMEM;
        goto cleanup;
    }
    for (char *line = lines, *next; line != NULL && *line != '\0'; line = next) {
        next = strchr(line, '\n');
        if (next != NULL)
            *next++ = '\0';
        size_t n = strlen(line);
        if (n > 0 && line[n - 1] == '\r')
            line[--n] = '\0';
        if (n == 0)
            continue;
        if (o.n_headers == MAX_HEADERS) {
            snprintf(err, errlen, "at most %d header lines", MAX_HEADERS);
            goto cleanup;
        }
        if (parse_header(line, &o.headers[o.n_headers]) != 0) {
            snprintf(err, errlen, "each header line wants 'Name: value' (a token name), got \"%.64s\"", line);
            goto cleanup;
        }
        ++o.n_headers;
    }
    const char *consent_header = live->facts.consent_header;
    if (form->consent != NULL && form->consent[0] != '\0') {
        if (o.n_headers == MAX_HEADERS) {
            snprintf(err, errlen, "at most %d header lines, consent included", MAX_HEADERS);
            goto cleanup;
        }
        if (strpbrk(form->consent, "\r\n") != NULL) {
            snprintf(err, errlen, "consent is one line of class names");
            goto cleanup;
        }
        o.headers[o.n_headers++] =
            (header_t){consent_header, strlen(consent_header), form->consent, strlen(form->consent)};
    }
    for (size_t i = 0; o.pin != NULL && i < o.n_headers; ++i)
        if (o.headers[i].name_len == strlen(live->facts.pin_header) &&
            strncasecmp(o.headers[i].name, live->facts.pin_header, o.headers[i].name_len) == 0) {
            snprintf(err, errlen, "give the pin in the pin field or as a %s header, not both", live->facts.pin_header);
            goto cleanup;
        }
    /* what prepare() sets up from the config's files, taken from the live state instead */
    e.opts = &o;
    e.cfg = live->config;
    e.now = live->now;
    e.geo_path = live->config->geo.database;
    e.geo = live->geo;
    e.rules_path = live->config->rules;
    e.rules = (dom_ruleset_t *)live->rules;
    e.n_pin_keys = live->n_pin_keys;
    e.fc = live->facts;
    if (explain_request(&e) != 0) {
        snprintf(err, errlen, "out of memory");
        ret = DOM_ENOMEM;
        goto cleanup;
    }
    print_words(words, &e);
    print_json(json, &e);
    ret = 0;
cleanup:
    free(e.path_buf);
    free(lines);
    return ret;
}

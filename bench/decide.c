/*
 * bench/decide: how long the decision core (steps 0-5 of the request path) takes per
 * request, on one thread. For every request it does what the gateway does:
 *
 *   the facts builder (canonical path, X-Forwarded-For from a trusted peer, geo lookup) →
 *   dom_rules_store_current → dom_decide → dom_ruleset_release
 *
 * over N seeded random public IPv4 and IPv6 addresses, and prints ns/decision for v4, v6
 * and mixed, decisions/s, and ratios against anchors measured in the same run: a bare
 * libmaxminddb lookup of the same address, and the ~31 µs of CPU a proxied HTTP/2 request
 * costs the gateway (the budget the decision must be a small part of). See bench/decide.md.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <maxminddb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "domicile/facts.h"
#include "domicile/policy.h"

#define DEFAULT_GEO_DB "/work/shared/geo/real/geo-whois-asn-country.mmdb"
#define REQUEST_BUDGET_NS 31000.0 /* CPU per proxied HTTP/2 request, measured for the gateway */

typedef struct request {
    dom_addr_t expected; /* the client the XFF names */
    char xff[64];
    size_t xff_len;
    const char *method, *path;
    size_t method_len, path_len;
} request_t;

static volatile uint64_t sink; /* keeps the compiler from dropping the work */

static uint64_t rng_state;

static uint64_t rng(void)
{
    /* splitmix64: seeded, reproducible, good enough to spread addresses */
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* A random public address: IPv4 anywhere public; IPv6 half in 2000::/3, half in the RIRs' /12s (where the
 * real allocations are). */
static void random_addr(int family, dom_addr_t *out)
{
    static const uint16_t v6_blocks[] = {0x2400, 0x2600, 0x2800, 0x2a00, 0x2c00, 0x2001};
    do {
        memset(out, 0, sizeof(*out));
        out->family = family;
        uint64_t a = rng(), b = rng();
        if (family == AF_INET) {
            memcpy(out->bytes, &a, 4);
        } else {
            memcpy(out->bytes, &a, 8);
            memcpy(out->bytes + 8, &b, 8);
            if (b & 1) {
                out->bytes[0] = (uint8_t)(0x20 | (out->bytes[0] & 0x1f)); /* anywhere in 2000::/3 */
            } else {
                uint16_t block = v6_blocks[rng() % (sizeof(v6_blocks) / sizeof(v6_blocks[0]))];
                out->bytes[0] = (uint8_t)(block >> 8);
                if (block == 0x2001)
                    out->bytes[1] = 0x01;
                else
                    out->bytes[1] = (uint8_t)((block & 0xf0) | (out->bytes[1] & 0x0f));
            }
        }
    } while (dom_addr_is_special(out));
}

static const struct {
    const char *method, *path;
} shapes[] = {
    {"PUT", "/v1/sync/files/4711"}, {"GET", "/v1/sync/files/4711"},  {"POST", "/v1/account/profile"},
    {"GET", "/v1/account"},         {"POST", "/v1/telemetry/crash"}, {"POST", "/v1/notifications/subscribe"},
};

/*
 * A random address the database has a network for: a random walk down its search tree,
 * taking a random non-empty branch at every node, then random host bits below the network.
 * Real clients come from allocated space, and a uniformly random IPv6 address almost never is.
 * IPv6 walks stay in 2000::/3 (global unicast); IPv4 walks start below ::/96 in an IPv6 tree.
 */
static int random_located(const MMDB_s *db, int family, dom_addr_t *out)
{
    memset(out, 0, sizeof(*out));
    out->family = family;
    uint32_t node = 0;
    unsigned bits = family == AF_INET ? 32 : 128, depth = 0;
    if (family == AF_INET && db->metadata.ip_version == 6) {
        for (unsigned i = 0; i < 96; ++i) {
            MMDB_search_node_s n;
            if (MMDB_read_node(db, node, &n) != MMDB_SUCCESS || n.left_record_type != MMDB_RECORD_TYPE_SEARCH_NODE)
                return -1;
            node = (uint32_t)n.left_record;
        }
    }
    for (; depth < bits; ++depth) {
        MMDB_search_node_s n;
        if (MMDB_read_node(db, node, &n) != MMDB_SUCCESS)
            return -1;
        int can[2] = {n.left_record_type != MMDB_RECORD_TYPE_EMPTY && n.left_record_type != MMDB_RECORD_TYPE_INVALID,
                      n.right_record_type != MMDB_RECORD_TYPE_EMPTY && n.right_record_type != MMDB_RECORD_TYPE_INVALID};
        if (family == AF_INET6 && depth < 3) /* 001: 2000::/3 */
            can[depth == 2 ? 0 : 1] = 0;
        if (!can[0] && !can[1])
            return -1;
        int bit = can[0] && can[1] ? (int)(rng() & 1) : can[1];
        if (bit)
            out->bytes[depth / 8] |= (uint8_t)(0x80 >> (depth % 8));
        uint8_t type = bit ? n.right_record_type : n.left_record_type;
        if (type == MMDB_RECORD_TYPE_DATA) {
            for (++depth; depth < bits; ++depth)
                if (rng() & 1)
                    out->bytes[depth / 8] |= (uint8_t)(0x80 >> (depth % 8));
            return 0;
        }
        node = (uint32_t)(bit ? n.right_record : n.left_record);
    }
    return -1;
}

/* Random requests; with located_only, only addresses the database locates (see random_located).
 * Returns -1 if the database locates too few. */
static int make_requests(request_t *reqs, size_t n, int family, dom_geo_t *geo, const MMDB_s *db, int located_only)
{
    for (size_t i = 0; i < n; ++i) {
        request_t *r = &reqs[i];
        int fam = family != 0 ? family : (rng() & 1) ? AF_INET6 : AF_INET;
        for (unsigned tries = 0;; ++tries) {
            dom_geo_result_t g;
            if (!located_only) {
                random_addr(fam, &r->expected);
                break;
            }
            if (random_located(db, fam, &r->expected) == 0 && !dom_addr_is_special(&r->expected)) {
                dom_geo_lookup(geo, &r->expected, &g);
                if (g.country[0] != '\0')
                    break;
            }
            if (tries == 10000) {
                fprintf(stderr, "decide: the geo database locates almost no random %s addresses; use --any-address\n",
                        fam == AF_INET ? "IPv4" : "IPv6");
                return -1;
            }
        }
        dom_addr_format(&r->expected, r->xff, sizeof(r->xff));
        r->xff_len = strlen(r->xff);
        size_t s = (size_t)(rng() % (sizeof(shapes) / sizeof(shapes[0])));
        r->method = shapes[s].method;
        r->method_len = strlen(r->method);
        r->path = shapes[s].path;
        r->path_len = strlen(r->path);
    }
    return 0;
}

typedef struct bench {
    dom_cidr_list_t trusted;
    dom_addr_t peer;
    dom_geo_t *geo;
    dom_rules_store_t *store;
    MMDB_s mmdb;
    int have_mmdb;
    int64_t now;
} bench_t;

/* One full decision, exactly as the gateway runs it: the facts builder (steps 0-3), the snapshot, the decision. */
static inline void decide_one(bench_t *b, const request_t *r, dom_decision_t *d)
{
    dom_facts_config_t fc = {.trusted = &b->trusted,
                             .pin_header = DOM_DEFAULT_PIN_HEADER,
                             .consent_header = DOM_DEFAULT_CONSENT_HEADER,
                             .geo = b->geo};
    dom_facts_builder_t fb;
    dom_request_facts_t facts;
    char path[256];
    dom_facts_begin(&fb, &fc);
    dom_facts_header(&fb, "x-forwarded-for", 15, r->xff, r->xff_len);
    dom_facts_finish(&fb, &b->peer, r->method, r->method_len, r->path, r->path_len, b->now, path, sizeof(path), &facts);
    dom_ruleset_t *rs = dom_rules_store_current(b->store);
    dom_decide(rs, &facts, d);
    sink += (uint64_t)d->status + d->n_regions;
    dom_ruleset_release(rs);
}

/* Best of `iterations` passes over the requests, in ns per request. */
static double time_full(bench_t *b, const request_t *reqs, size_t n, unsigned iterations)
{
    double best = 1e30;
    dom_decision_t d;
    for (unsigned it = 0; it < iterations; ++it) {
        double t0 = now_ns();
        for (size_t i = 0; i < n; ++i)
            decide_one(b, &reqs[i], &d);
        double per = (now_ns() - t0) / (double)n;
        if (per < best)
            best = per;
    }
    return best;
}

static double time_mmdb(bench_t *b, const request_t *reqs, size_t n, unsigned iterations)
{
    if (!b->have_mmdb)
        return 0;
    struct sockaddr_storage *sas = malloc(n * sizeof(*sas));
    if (sas == NULL)
        return 0;
    for (size_t i = 0; i < n; ++i)
        dom_addr_to_sockaddr(&reqs[i].expected, &sas[i]);
    double best = 1e30;
    for (unsigned it = 0; it < iterations; ++it) {
        double t0 = now_ns();
        for (size_t i = 0; i < n; ++i) {
            int mmdb_err;
            MMDB_lookup_result_s res = MMDB_lookup_sockaddr(&b->mmdb, (const struct sockaddr *)&sas[i], &mmdb_err);
            sink += res.found_entry + res.netmask;
        }
        double per = (now_ns() - t0) / (double)n;
        if (per < best)
            best = per;
    }
    free(sas);
    return best;
}

/* Each stage alone, on inputs prepared by the previous stage. */
static void breakdown(bench_t *b, const request_t *reqs, size_t n, unsigned iterations)
{
    dom_clientip_t *clients = malloc(n * sizeof(*clients));
    dom_geo_result_t *geos = malloc(n * sizeof(*geos));
    if (clients == NULL || geos == NULL) {
        fprintf(stderr, "out of memory\n");
        goto out;
    }
    double best[4] = {1e30, 1e30, 1e30, 1e30};
    dom_ruleset_t *rs = dom_rules_store_current(b->store);
    for (unsigned it = 0; it < iterations; ++it) {
        double t0 = now_ns();
        for (size_t i = 0; i < n; ++i) {
            dom_strref_t xff = {reqs[i].xff, reqs[i].xff_len};
            dom_clientip_resolve(&b->trusted, &b->peer, &xff, 1, NULL, 0, &clients[i]);
        }
        double t1 = now_ns();
        for (size_t i = 0; i < n; ++i)
            dom_geo_lookup(b->geo, &clients[i].addr, &geos[i]);
        double t2 = now_ns();
        for (size_t i = 0; i < n; ++i) {
            dom_ruleset_t *cur = dom_rules_store_current(b->store);
            sink += cur->generation;
            dom_ruleset_release(cur);
        }
        double t3 = now_ns();
        for (size_t i = 0; i < n; ++i) {
            dom_decision_t d;
            dom_request_facts_t facts = {
                .location_known = !clients[i].hidden,
                .geo = geos[i],
                .method = reqs[i].method,
                .method_len = reqs[i].method_len,
                .path = reqs[i].path,
                .path_len = reqs[i].path_len,
                .now = b->now,
            };
            dom_decide(rs, &facts, &d);
            sink += (uint64_t)d.status + d.n_regions;
        }
        double t4 = now_ns();
        double stage[4] = {t1 - t0, t2 - t1, t3 - t2, t4 - t3};
        for (int s = 0; s < 4; ++s)
            if (stage[s] / (double)n < best[s])
                best[s] = stage[s] / (double)n;
    }
    dom_ruleset_release(rs);
    printf("  breakdown (best of %u passes):\n", iterations);
    printf("    clientip_resolve (XFF via trusted peer)  %7.1f ns\n", best[0]);
    printf("    geo_lookup                               %7.1f ns\n", best[1]);
    printf("    rules_store_current + release            %7.1f ns\n", best[2]);
    printf("    decide                                   %7.1f ns\n", best[3]);
    printf("    sum                                      %7.1f ns\n", best[0] + best[1] + best[2] + best[3]);
out:
    free(clients);
    free(geos);
}

/* Checks the benchmark measures what it claims: the XFF client is the one resolved, and how many were located. */
static int sanity(bench_t *b, const request_t *reqs, size_t n, size_t *located, size_t *routed)
{
    *located = *routed = 0;
    for (size_t i = 0; i < n; ++i) {
        dom_strref_t xff = {reqs[i].xff, reqs[i].xff_len};
        dom_clientip_t client;
        dom_geo_result_t geo;
        dom_decision_t d;
        dom_clientip_resolve(&b->trusted, &b->peer, &xff, 1, NULL, 0, &client);
        if (client.source != DOM_CLIENTIP_XFF || !dom_addr_equal(&client.addr, &reqs[i].expected)) {
            fprintf(stderr, "sanity: request %zu (%s) did not resolve to its X-Forwarded-For client\n", i, reqs[i].xff);
            return -1;
        }
        dom_geo_lookup(b->geo, &client.addr, &geo);
        *located += geo.country[0] != '\0';
        decide_one(b, &reqs[i], &d);
        *routed += d.action == DOM_ACTION_ROUTE;
    }
    return 0;
}

static void usage(FILE *fp)
{
    fputs("usage: decide --rules FILE|DIR [--geo-db FILE] [-n ADDRESSES] [-i PASSES] [--seed N] [--now UNIX]\n"
          "              [--breakdown] [--any-address]\n"
          "  --rules      compiled rules database, or a rules directory (compiled into a temporary database)\n"
          "  --geo-db     mmdb file (default " DEFAULT_GEO_DB " if present)\n"
          "  -n           random addresses per family (default 100000)\n"
          "  -i           timed passes over them; the best pass counts (default 10)\n"
          "  --seed       random seed (default 1)\n"
          "  --breakdown  also time each stage on its own\n"
          "  --any-address  random public addresses, located or not (default: only ones the database locates)\n",
          fp);
}

int main(int argc, char **argv)
{
    const char *geo_path = NULL, *rules_path = NULL;
    size_t n = 100000;
    unsigned iterations = 10;
    uint64_t seed = 1;
    int want_breakdown = 0, any_address = 0;
    bench_t b;
    memset(&b, 0, sizeof(b));
    b.now = (int64_t)time(NULL);
    char tmp_rules[64] = "";
    request_t *v4 = NULL, *v6 = NULL, *mixed = NULL;
    int ret = 1;

    for (int i = 1; i < argc; ++i) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--breakdown") == 0) {
            want_breakdown = 1;
            continue;
        }
        if (strcmp(a, "--any-address") == 0) {
            any_address = 1;
            continue;
        }
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        }
        if (v == NULL) {
            usage(stderr);
            return 2;
        }
        ++i;
        if (strcmp(a, "--geo-db") == 0)
            geo_path = v;
        else if (strcmp(a, "--rules") == 0)
            rules_path = v;
        else if (strcmp(a, "-n") == 0 && strtoul(v, NULL, 10) > 0)
            n = strtoul(v, NULL, 10);
        else if (strcmp(a, "-i") == 0 && strtoul(v, NULL, 10) > 0)
            iterations = (unsigned)strtoul(v, NULL, 10);
        else if (strcmp(a, "--seed") == 0)
            seed = strtoull(v, NULL, 10);
        else if (strcmp(a, "--now") == 0)
            b.now = strtoll(v, NULL, 10);
        else {
            usage(stderr);
            return 2;
        }
    }
    if (rules_path == NULL) {
        usage(stderr);
        return 2;
    }
    if (geo_path == NULL && access(DEFAULT_GEO_DB, R_OK) == 0)
        geo_path = DEFAULT_GEO_DB;

    char err[512] = "";
    if (geo_path != NULL) {
        if (dom_geo_open(geo_path, NULL, &b.geo, err, sizeof(err)) != 0) {
            fprintf(stderr, "decide: cannot open geo database %s: %s\n", geo_path, err);
            goto out;
        }
        b.have_mmdb = MMDB_open(geo_path, MMDB_MODE_MMAP, &b.mmdb) == MMDB_SUCCESS;
    } else if (dom_geo_open_none(NULL, &b.geo) != 0) {
        goto out;
    }

    struct stat st;
    if (stat(rules_path, &st) == 0 && S_ISDIR(st.st_mode)) {
        dom_ruleset_t *rs = NULL;
        dom_diag_t diag = {0};
        if (dom_rules_parse_dir(rules_path, &diag, &rs) != 0) {
            fprintf(stderr, "decide: the rules in %s have errors\n", rules_path);
            goto out;
        }
        snprintf(tmp_rules, sizeof(tmp_rules), "/tmp/domicile-bench-rules.%d.mdb", (int)getpid());
        int r = dom_rules_compile(rs, tmp_rules, err, sizeof(err));
        dom_ruleset_release(rs);
        if (r != 0) {
            fprintf(stderr, "decide: cannot compile %s: %s\n", rules_path, err);
            goto out;
        }
        rules_path = tmp_rules;
    }
    if (dom_rules_store_open(rules_path, &b.store, err, sizeof(err)) != 0) {
        fprintf(stderr, "decide: cannot open rules database %s: %s\n", rules_path, err);
        goto out;
    }

    dom_cidr_t proxies;
    dom_cidr_parse("10.0.0.0/8", 10, &proxies);
    dom_cidr_list_add(&b.trusted, &proxies);
    dom_addr_parse("10.1.2.3", 8, &b.peer);

    rng_state = seed;
    v4 = malloc(n * sizeof(*v4));
    v6 = malloc(n * sizeof(*v6));
    mixed = malloc(n * sizeof(*mixed));
    if (v4 == NULL || v6 == NULL || mixed == NULL) {
        fprintf(stderr, "decide: out of memory\n");
        goto out;
    }
    int located_only = b.have_mmdb && !any_address;
    if (make_requests(v4, n, AF_INET, b.geo, &b.mmdb, located_only) != 0 ||
        make_requests(v6, n, AF_INET6, b.geo, &b.mmdb, located_only) != 0 ||
        make_requests(mixed, n, 0, b.geo, &b.mmdb, located_only) != 0)
        goto out;

    const dom_geo_metadata_t *meta = dom_geo_metadata(b.geo);
    printf("geo database  %s (%s, %u nodes)\n", geo_path != NULL ? geo_path : "none (every location unknown)",
           meta->database_type, meta->node_count);
    dom_ruleset_t *rs = dom_rules_store_current(b.store);
    printf("rules         %s (%zu jurisdiction versions, %zu claims)\n", rules_path, rs->n_jurisdictions, rs->n_claims);
    dom_ruleset_release(rs);
    printf("requests      %zu per family (%s), seed %" PRIu64 ", best of %u passes, 1 thread\n", n,
           located_only ? "random addresses the database locates" : "any public address", seed, iterations);

    static const char *names[] = {"IPv4", "IPv6", "mixed"};
    request_t *sets[] = {v4, v6, mixed};
    for (int s = 0; s < 3; ++s) {
        size_t located, routed;
        if (sanity(&b, sets[s], n, &located, &routed) != 0)
            goto out;
        time_full(&b, sets[s], n, 1); /* warm the caches and page in the database */
        double ns = time_full(&b, sets[s], n, iterations);
        double mmdb = time_mmdb(&b, sets[s], n, iterations);
        printf("%-6s %7.1f ns/decision  %10.0f decisions/s  %5.2f%% of a %.0f us request", names[s], ns, 1e9 / ns,
               100.0 * ns / REQUEST_BUDGET_NS, REQUEST_BUDGET_NS / 1000);
        if (mmdb > 0)
            printf("  %4.2fx a bare MMDB lookup (%.1f ns)", ns / mmdb, mmdb);
        printf("  [located %.1f%%, routed %.1f%%]\n", 100.0 * (double)located / (double)n,
               100.0 * (double)routed / (double)n);
        if (want_breakdown)
            breakdown(&b, sets[s], n, iterations);
    }
    ret = 0;

out:
    free(v4);
    free(v6);
    free(mixed);
    dom_rules_store_close(b.store);
    dom_geo_release(b.geo);
    if (b.have_mmdb)
        MMDB_close(&b.mmdb);
    dom_cidr_list_free(&b.trusted);
    if (tmp_rules[0] != '\0') {
        unlink(tmp_rules);
        char lock[80];
        snprintf(lock, sizeof(lock), "%s-lock", tmp_rules);
        unlink(lock);
    }
    return ret;
}

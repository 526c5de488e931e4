/*
 * Tests src/core/geo.c against the databases tests/fixtures/make-fixtures builds, and, when
 * present, MaxMind's own test databases and a real flat-shape database under /work/shared/geo.
 */
#include "core/geo.c"

#include <dirent.h>
#include <pthread.h>
#include "test.h"

#define FIXTURES DOM_BINARY_DIR "/fixtures/"
#define MAXMIND_TEST "/work/shared/geo/maxmind-test"
#define REAL_FLAT "/work/shared/geo/real/geo-whois-asn-country.mmdb"

/* Own parsers (no dependency on clientip.c): unmaps ::ffff:a.b.c.d unless keep_mapped. */
static dom_addr_t addr_of(const char *s, int keep_mapped)
{
    dom_addr_t a;
    memset(&a, 0, sizeof(a));
    if (inet_pton(AF_INET, s, a.bytes) == 1) {
        a.family = AF_INET;
    } else if (inet_pton(AF_INET6, s, a.bytes) == 1) {
        a.family = AF_INET6;
        if (!keep_mapped && memcmp(a.bytes, v4_mapped_prefix, 12) == 0) {
            memmove(a.bytes, a.bytes + 12, 4);
            memset(a.bytes + 4, 0, 12);
            a.family = AF_INET;
        }
    } else {
        printf("# bad address in test: %s\n", s);
        a.family = -1;
    }
    return a;
}

static dom_addr_t addr(const char *s)
{
    return addr_of(s, 0);
}

static dom_cidr_t cidr(const char *s)
{
    char buf[64];
    snprintf(buf, sizeof(buf), "%s", s);
    char *slash = strchr(buf, '/');
    dom_cidr_t c;
    memset(&c, 0, sizeof(c));
    *slash = '\0';
    c.net = addr_of(buf, 1);
    c.prefix = (unsigned)atoi(slash + 1);
    return c;
}

static dom_geo_result_t look(dom_geo_t *geo, const char *s)
{
    dom_geo_result_t r;
    dom_addr_t a = addr(s);
    dom_geo_lookup(geo, &a, &r);
    return r;
}

static dom_geo_t *open_ok(const char *path, const dom_geo_options_t *opts)
{
    char err[512];
    dom_geo_t *geo = NULL;
    int rc = dom_geo_open(path, opts, &geo, err, sizeof(err));
    if (!is_int(rc, 0))
        printf("# %s: %s\n", path, err);
    return geo;
}

/* Opened by the static open_database() without its data-record check (a check that cannot be exhaustive on a huge
 * database), to reach what lookups do with a record that does not decode. */
static dom_geo_t *open_without_data_check(const char *path, const dom_geo_options_t *opts)
{
    char err[512];
    dom_geo_t *geo = NULL;
    int rc = open_database(path, opts, 0, &geo, err, sizeof(err));
    if (!is_int(rc, 0))
        printf("# %s: %s\n", path, err);
    return geo;
}

static void test_geoip2_table(void)
{
    dom_geo_t *geo = open_ok(FIXTURES "geo-test.mmdb", NULL);
    if (!ok(geo != NULL))
        return;
    FILE *f = fopen(FIXTURES "geo-test.tsv", "r");
    if (!ok(f != NULL)) {
        dom_geo_release(geo);
        return;
    }
    char line[256];
    int rows = 0, v6 = 0, special = 0, eu = 0, sub = 0;
    while (fgets(line, sizeof(line), f) != NULL) {
        char ip[64], cc[8], sd[16];
        int in_eu;
        if (!ok(sscanf(line, "%63s\t%7s\t%15s\t%d", ip, cc, sd, &in_eu) == 4))
            continue;
        ++rows;
        v6 += strchr(ip, ':') != NULL;
        dom_geo_result_t r = look(geo, ip);
        int unknown = strcmp(cc, "-") == 0;
        if (unknown) {
            ++special;
            /* every unknown row of the table is a special range the database maps to a country */
            if (!is_int(r.source, DOM_GEO_SPECIAL))
                printf("#   %s\n", ip);
            is_str(r.country, "");
            continue;
        }
        if (!is_int(r.source, DOM_GEO_DATABASE))
            printf("#   %s\n", ip);
        is_str(r.country, cc);
        is_str(r.subdivision, strcmp(sd, "-") == 0 ? "" : sd);
        is_int(r.in_eu, in_eu);
        is_str(r.jurisdiction, "");
        eu += in_eu;
        sub += strcmp(sd, "-") != 0;
    }
    fclose(f);
    ok(rows >= 50 && v6 >= 26 && special >= 5 && eu >= 18 && sub >= 4);
    is_int(dom_geo_error_count(geo), 0);

    /* spot checks independent of the table */
    dom_geo_result_t r = look(geo, "5.9.200.1");
    is_str(r.subdivision, "US-CA");
    r = look(geo, "2a00:a::ffff");
    is_str(r.subdivision, "US-NY");
    r = look(geo, "5.11.0.1");
    is_str(r.country, "US");
    is_str(r.subdivision, "");
    r = look(geo, "45.0.1.2"); /* garbage subdivision "C@!" is dropped, the country kept */
    is_int(r.source, DOM_GEO_DATABASE);
    is_str(r.country, "US");
    is_str(r.subdivision, "");
    r = look(geo, "5.4.0.1"); /* NO: no EU key in the record means false */
    is_str(r.country, "NO");
    is_int(r.in_eu, 0);
    is_int(r.in_eu_derived, 0); /* the database carries the flag (in other records): its word counts */
    r = look(geo, "5.21.0.1");
    is_str(r.country, "AT");
    is_int(r.in_eu, 1);
    is_str(dom_geo_in_eu_source_name(&r), "database");

    /* IPv4-mapped IPv6, whether or not the caller unmapped it */
    dom_addr_t mapped = addr_of("::ffff:5.2.2.3", 1);
    ok(mapped.family == AF_INET6);
    dom_geo_lookup(geo, &mapped, &r);
    is_int(r.source, DOM_GEO_DATABASE);
    is_str(r.country, "FR");
    mapped = addr_of("::ffff:10.1.2.3", 1);
    dom_geo_lookup(geo, &mapped, &r);
    is_int(r.source, DOM_GEO_SPECIAL);

    /* not in the database */
    r = look(geo, "6.0.0.1");
    is_int(r.source, DOM_GEO_NONE);
    is_str(r.country, "");
    r = look(geo, "2a01::1");
    is_int(r.source, DOM_GEO_NONE);
    r = look(geo, "5.27.0.1");
    is_int(r.source, DOM_GEO_NONE);
    is_int(dom_geo_error_count(geo), 0);

    /* a malformed dom_addr_t is unknown, not a crash */
    dom_addr_t bad;
    memset(&bad, 0, sizeof(bad));
    bad.family = 12345;
    dom_geo_lookup(geo, &bad, &r);
    is_int(r.source, DOM_GEO_NONE);
    dom_geo_lookup(geo, NULL, &r);
    is_int(r.source, DOM_GEO_NONE);
    dom_geo_release(geo);
}

/* ---- the decoded-record table against the decoding path ---- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* A random address; half of them steered down the search tree towards the networks the database has
 * (at each node the non-empty side if only one is), so both found and not-found records are met. */
static dom_addr_t random_addr(const dom_geo_t *geo)
{
    const MMDB_s *m = &geo->mmdb;
    dom_addr_t a;
    memset(&a, 0, sizeof(a));
    int v6 = m->metadata.ip_version == 6 && (rnd() & 1);
    a.family = v6 ? AF_INET6 : AF_INET;
    for (int i = 0; i < 16; i += 8) {
        uint64_t r = rnd();
        memcpy(a.bytes + i, &r, 8);
    }
    if (!v6)
        memset(a.bytes + 4, 0, 12);
    if (rnd() & 1) {
        uint32_t nodes = m->metadata.node_count, value = !v6 && m->metadata.ip_version == 6 ? geo->v4_start : 0;
        unsigned depth = v6 ? 128 : 32;
        for (unsigned bit = 0; bit < depth && value < nodes; ++bit) {
            uint32_t rec[2];
            read_node(m, value, rec);
            int side = (int)(rnd() & 1);
            if (rec[side] == nodes && rec[!side] != nodes)
                side = !side;
            uint8_t mask = (uint8_t)(0x80 >> (bit % 8));
            a.bytes[bit / 8] = (uint8_t)(side ? a.bytes[bit / 8] | mask : a.bytes[bit / 8] & ~mask);
            value = rec[side];
        }
    }
    return a;
}

/* The decoding path: libmaxminddb walks the tree and decodes the record on every lookup. */
static void lookup_decoding(dom_geo_t *geo, const dom_addr_t *a, dom_geo_result_t *r)
{
    record_slot_t *records = geo->records;
    geo->records = NULL;
    dom_geo_lookup(geo, a, r);
    geo->records = records;
}

/* Both paths give the same answer (and neither counts an error the other does not). */
static int same_both_ways(dom_geo_t *geo, const dom_addr_t *a)
{
    dom_geo_result_t fast, slow;
    uint64_t errors = dom_geo_error_count(geo);
    dom_geo_lookup(geo, a, &fast);
    uint64_t fast_errors = dom_geo_error_count(geo) - errors;
    lookup_decoding(geo, a, &slow);
    uint64_t slow_errors = dom_geo_error_count(geo) - errors - fast_errors;
    int same = fast.source == slow.source && strcmp(fast.country, slow.country) == 0 &&
               strcmp(fast.subdivision, slow.subdivision) == 0 && fast.in_eu == slow.in_eu &&
               strcmp(fast.jurisdiction, slow.jurisdiction) == 0 && fast_errors == slow_errors;
    if (!same) {
        char text[INET6_ADDRSTRLEN];
        inet_ntop(a->family, a->bytes, text, sizeof(text));
        printf("# %s: table %s %s %s %d, decoding %s %s %s %d\n", text, dom_geo_source_name(fast.source), fast.country,
               fast.subdivision, fast.in_eu, dom_geo_source_name(slow.source), slow.country, slow.subdivision,
               slow.in_eu);
    }
    return same;
}

static int compared_located; /* of the last compare_random: how many the database located */

/* n random addresses looked up both ways; returns how many differ. */
static int compare_random(dom_geo_t *geo, int n)
{
    int differ = 0;
    compared_located = 0;
    for (int i = 0; i < n; ++i) {
        dom_addr_t a = random_addr(geo);
        differ += !same_both_ways(geo, &a);
        dom_geo_result_t r;
        dom_geo_lookup(geo, &a, &r);
        compared_located += r.source == DOM_GEO_DATABASE;
    }
    return differ;
}

/* walk_address ends where libmaxminddb's own walk does: same record, same "empty", and every case
 * lookup_table leaves to libmaxminddb (errors, walks that end inside the tree) is one it would leave. */
static int walk_matches(const dom_geo_t *geo, const dom_addr_t *a)
{
    const MMDB_s *m = &geo->mmdb;
    if (a->family == AF_INET6 && m->metadata.ip_version == 4)
        return 1; /* lookup_table does not walk these */
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    if (a->family == AF_INET) {
        ((struct sockaddr_in *)&ss)->sin_family = AF_INET;
        memcpy(&((struct sockaddr_in *)&ss)->sin_addr, a->bytes, 4);
    } else {
        ((struct sockaddr_in6 *)&ss)->sin6_family = AF_INET6;
        memcpy(&((struct sockaddr_in6 *)&ss)->sin6_addr, a->bytes, 16);
    }
    int error = MMDB_SUCCESS;
    MMDB_lookup_result_s res = MMDB_lookup_sockaddr((MMDB_s *)m, (const struct sockaddr *)&ss, &error);
    uint32_t value = walk_address(geo, a), nodes = m->metadata.node_count;
    int left_to_libmaxminddb =
        value < nodes || (value > nodes && (value - nodes < 16 || value - nodes >= m->data_section_size));
    if (left_to_libmaxminddb)
        return 1;
    if (error != MMDB_SUCCESS)
        return 0;
    if (value == nodes)
        return !res.found_entry;
    return res.found_entry && res.entry.offset == value - nodes - 16;
}

/* A handle on any file libmaxminddb opens, without open's checks (they may refuse it), to test the walk. */
static dom_geo_t *open_unchecked(const char *path)
{
    dom_geo_t *geo = geo_new();
    if (geo == NULL)
        return NULL;
    if (MMDB_open(path, MMDB_MODE_MMAP, &geo->mmdb) != MMDB_SUCCESS) {
        geo_free(geo);
        return NULL;
    }
    geo->has_db = 1;
    find_v4_start(geo);
    return geo;
}

static void test_walk(void)
{
    static const char *const files[] = {
        "MaxMind-DB-test-ipv4-24.mmdb",        "MaxMind-DB-test-ipv4-28.mmdb",
        "MaxMind-DB-test-ipv4-32.mmdb",        "MaxMind-DB-test-ipv6-24.mmdb",
        "MaxMind-DB-test-ipv6-28.mmdb",        "MaxMind-DB-test-ipv6-32.mmdb",
        "MaxMind-DB-test-mixed-24.mmdb",       "MaxMind-DB-test-mixed-28.mmdb",
        "MaxMind-DB-test-mixed-32.mmdb",       "GeoIP2-City-Test.mmdb",
        "MaxMind-DB-no-ipv4-search-tree.mmdb", "MaxMind-DB-test-broken-search-tree-24.mmdb",
    };
    int differ = 0, walked = 0;
    dom_geo_t *geo = open_unchecked(FIXTURES "geo-test.mmdb");
    if (ok(geo != NULL)) {
        for (int i = 0; i < 20000; ++i) {
            dom_addr_t a = random_addr(geo);
            differ += !walk_matches(geo, &a);
        }
        geo_free(geo);
    }
    for (size_t f = 0; f < sizeof(files) / sizeof(files[0]); ++f) {
        char path[512];
        snprintf(path, sizeof(path), MAXMIND_TEST "/test-data/%s", files[f]);
        if ((geo = open_unchecked(path)) == NULL)
            continue;
        ++walked;
        for (int i = 0; i < 5000; ++i) {
            dom_addr_t a = random_addr(geo);
            differ += !walk_matches(geo, &a);
        }
        geo_free(geo);
    }
    printf("# walked %d MaxMind test databases (24, 28 and 32-bit records when present)\n", walked);
    is_int(differ, 0);
}

static void test_table_matches_decoding(void)
{
    dom_geo_t *geo = open_ok(FIXTURES "geo-test.mmdb", NULL);
    if (!ok(geo != NULL))
        return;
    ok(geo->records != NULL); /* a checked database gets the table */
    FILE *f = fopen(FIXTURES "geo-test.tsv", "r");
    int rows = 0, differ = 0;
    char line[256];
    while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
        char ip[64];
        if (sscanf(line, "%63s", ip) != 1)
            continue;
        ++rows;
        dom_addr_t a = addr_of(ip, 0), mapped = addr_of(ip, 1);
        differ += !same_both_ways(geo, &a) + !same_both_ways(geo, &mapped);
    }
    if (f != NULL)
        fclose(f);
    ok(rows >= 50);
    is_int(differ, 0);
    is_int(compare_random(geo, 100000), 0);
    printf("# fixture: %d of 100000 random addresses located\n", compared_located);
    ok(compared_located > 5000);
    is_int(dom_geo_error_count(geo), 0);
    dom_geo_release(geo);

    /* the flat shape, and the table's "no country" records */
    geo = open_ok(FIXTURES "geo-flat.mmdb", NULL);
    if (ok(geo != NULL)) {
        is_int(compare_random(geo, 20000), 0);
        dom_geo_release(geo);
    }

    /* no table without open's record check: lookups decode, errors are counted */
    dom_geo_options_t o = {.shape = DOM_GEO_SHAPE_GEOIP2};
    geo = open_without_data_check(FIXTURES "geo-flipped-data.mmdb", &o);
    if (ok(geo != NULL)) {
        ok(geo->records == NULL);
        dom_geo_release(geo);
    }

    /* a database of realistic size (bench/gen-geo-db), when one is at hand */
    const char *big = getenv("DOMICILE_BIG_GEO_DB");
    if (big == NULL)
        big = DOM_SOURCE_DIR "/build-bench/bench-cache/geo-1000000.mmdb";
    struct stat st;
    if (stat(big, &st) != 0) {
        printf("# skip: no large generated database (set DOMICILE_BIG_GEO_DB)\n");
        return;
    }
    geo = open_ok(big, NULL);
    if (!ok(geo != NULL))
        return;
    ok(geo->records != NULL);
    is_int(compare_random(geo, 100000), 0);
    printf("# %s: %d of 100000 random addresses located, %u table slots\n", big, compared_located,
           geo->records_mask + 1);
    ok(compared_located > 5000);
    int walk_differ = 0;
    for (int i = 0; i < 20000; ++i) {
        dom_addr_t a = random_addr(geo);
        walk_differ += !walk_matches(geo, &a);
    }
    is_int(walk_differ, 0);
    is_int(dom_geo_error_count(geo), 0);
    dom_geo_release(geo);
}

static void test_metadata(void)
{
    dom_geo_t *geo = open_ok(FIXTURES "geo-test.mmdb", NULL);
    if (!ok(geo != NULL))
        return;
    /* the truth, read independently */
    MMDB_s m;
    if (!is_int(MMDB_open(FIXTURES "geo-test.mmdb", MMDB_MODE_MMAP, &m), MMDB_SUCCESS)) {
        dom_geo_release(geo);
        return;
    }
    const dom_geo_metadata_t *md = dom_geo_metadata(geo);
    is_str(md->database_type, "GeoIP2-City");
    is_int(md->build_epoch, m.metadata.build_epoch);
    ok(md->build_epoch > 1600000000);
    is_int(md->node_count, m.metadata.node_count);
    ok(md->node_count > 100);
    is_int(md->ip_version, 6);
    is_int(md->shape, DOM_GEO_SHAPE_GEOIP2);
    is_str(dom_geo_path(geo), FIXTURES "geo-test.mmdb");
    is_str(dom_geo_shape_name(md->shape), "geoip2");
    is_str(dom_geo_source_name(DOM_GEO_SPECIAL), "special");
    MMDB_close(&m);
    dom_geo_release(geo);
}

static void test_flat(void)
{
    dom_geo_t *geo = open_ok(FIXTURES "geo-flat.mmdb", NULL);
    if (ok(geo != NULL)) {
        is_int(dom_geo_metadata(geo)->shape, DOM_GEO_SHAPE_FLAT);
        is_str(dom_geo_metadata(geo)->database_type, "geo-whois-asn-country");
        dom_geo_result_t r = look(geo, "5.9.2.3");
        is_int(r.source, DOM_GEO_DATABASE);
        is_str(r.country, "US");
        is_str(r.subdivision, ""); /* the flat shape has no subdivisions */
        is_int(r.in_eu, 0);
        is_int(r.in_eu_derived, 1);
        is_str(dom_geo_in_eu_source_name(&r), "derived");
        r = look(geo, "2a00:1a::5");
        is_str(r.country, "SE");
        /* nor an EU flag: membership is derived from the EU-27 list of the ISO 3166 table */
        is_int(r.in_eu, 1);
        is_int(r.in_eu_derived, 1);
        is_str(dom_geo_in_eu_source_name(&r), "derived");
        r = look(geo, "5.1.2.3");
        is_str(r.country, "DE");
        is_int(r.in_eu, 1);
        is_int(r.in_eu_derived, 1);
        r = look(geo, "5.8.1.1");
        is_str(r.country, "GB"); /* left in 2020 */
        is_int(r.in_eu, 0);
        is_int(r.in_eu_derived, 1);
        r = look(geo, "10.1.2.3");
        is_int(r.source, DOM_GEO_SPECIAL);
        dom_geo_release(geo);
    }

    dom_geo_options_t o = {.shape = DOM_GEO_SHAPE_FLAT};
    geo = open_ok(FIXTURES "geo-flat.mmdb", &o);
    if (ok(geo != NULL)) {
        is_int(dom_geo_metadata(geo)->shape, DOM_GEO_SHAPE_FLAT);
        is_str(look(geo, "5.8.1.1").country, "GB");
        dom_geo_release(geo);
    }

    /* the wrong shape configured: refused at open with a message naming the path */
    char err[512];
    o.shape = DOM_GEO_SHAPE_GEOIP2;
    geo = (dom_geo_t *)1;
    is_int(dom_geo_open(FIXTURES "geo-flat.mmdb", &o, &geo, err, sizeof(err)), DOM_EGEO);
    ok(geo == NULL);
    ok(strstr(err, "country.iso_code") != NULL);
    printf("# %s\n", err);
    o.shape = DOM_GEO_SHAPE_FLAT;
    is_int(dom_geo_open(FIXTURES "geo-test.mmdb", &o, &geo, err, sizeof(err)), DOM_EGEO);
    ok(strstr(err, "country_code") != NULL);
}

static void test_custom_paths(void)
{
    char err[512];
    dom_geo_t *geo;

    /* a flat database read through explicit paths */
    dom_geo_options_t o = {.shape = DOM_GEO_SHAPE_GEOIP2, .country_path = "country_code"};
    geo = open_ok(FIXTURES "geo-flat.mmdb", &o);
    if (ok(geo != NULL)) {
        is_str(look(geo, "5.1.2.3").country, "DE");
        dom_geo_release(geo);
    }

    /* optional fields turned off with "" */
    dom_geo_options_t off = {.subdivision_path = "", .eu_path = ""};
    geo = open_ok(FIXTURES "geo-test.mmdb", &off);
    if (ok(geo != NULL)) {
        dom_geo_result_t r = look(geo, "5.9.2.3");
        is_str(r.country, "US");
        is_str(r.subdivision, "");
        r = look(geo, "5.1.2.3");
        is_str(r.country, "DE");
        is_int(r.in_eu, 1); /* no EU flag read: derived from the EU-27 list */
        is_int(r.in_eu_derived, 1);
        dom_geo_release(geo);
    }

    /* a path naming something else: the subdivision read from where the country is */
    dom_geo_options_t other = {.subdivision_path = "subdivisions.-1.iso_code"};
    geo = open_ok(FIXTURES "geo-test.mmdb", &other);
    if (ok(geo != NULL)) {
        is_str(look(geo, "5.10.2.3").subdivision, "US-NY");
        dom_geo_release(geo);
    }

    /* a path that matches nothing: refused, naming the path */
    dom_geo_options_t none = {.country_path = "registered_country.iso_code"};
    is_int(dom_geo_open(FIXTURES "geo-test.mmdb", &none, &geo, err, sizeof(err)), DOM_EGEO);
    ok(strstr(err, "registered_country.iso_code") != NULL);

    static const char *const bad[] = {
        "country..iso_code", ".country", "country.", "", "country iso", "a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); ++i) {
        dom_geo_options_t b = {.country_path = bad[i]};
        err[0] = '\0';
        geo = (dom_geo_t *)1;
        is_int(dom_geo_open(FIXTURES "geo-test.mmdb", &b, &geo, err, sizeof(err)), DOM_EINVAL);
        ok(geo == NULL && err[0] != '\0');
    }
}

static void test_overrides(void)
{
    dom_geo_override_t ov[6];
    memset(ov, 0, sizeof(ov));
    ov[0].cidr = cidr("10.0.0.0/8"); /* office VPN: legitimate, beats the special range */
    strcpy(ov[0].country, "CH");
    ov[1].cidr = cidr("10.1.0.0/16"); /* longer prefix wins, whatever the order given */
    strcpy(ov[1].jurisdiction, "office-eu");
    ov[2].cidr = cidr("5.1.0.0/16");
    strcpy(ov[2].country, "US");
    strcpy(ov[2].subdivision, "US-NY");
    ov[3].cidr = cidr("5.1.2.0/24");
    strcpy(ov[3].jurisdiction, "partner");
    ov[4].cidr = cidr("2a00:2::/32");
    strcpy(ov[4].country, "IE");
    ov[5].cidr = cidr("::ffff:5.3.0.0/112"); /* written as mapped IPv6, matches IPv4 */
    strcpy(ov[5].country, "JP");
    dom_geo_options_t o = {.overrides = ov, .n_overrides = 6};
    dom_geo_t *geo = open_ok(FIXTURES "geo-test.mmdb", &o);
    if (!ok(geo != NULL))
        return;
    memset(ov, 0, sizeof(ov)); /* copied at open */

    dom_geo_result_t r = look(geo, "10.1.2.3");
    is_int(r.source, DOM_GEO_OVERRIDE);
    is_str(r.jurisdiction, "office-eu");
    is_str(r.country, "");
    r = look(geo, "10.2.0.1");
    is_int(r.source, DOM_GEO_OVERRIDE);
    is_str(r.country, "CH");
    is_str(r.jurisdiction, "");
    r = look(geo, "5.1.2.3");
    is_int(r.source, DOM_GEO_OVERRIDE);
    is_str(r.jurisdiction, "partner");
    r = look(geo, "5.1.3.1");
    is_str(r.country, "US");
    is_str(r.subdivision, "US-NY");
    is_int(r.in_eu, 0);
    r = look(geo, "2a00:2::7");
    is_int(r.source, DOM_GEO_OVERRIDE);
    is_str(r.country, "IE");
    r = look(geo, "5.3.9.9");
    is_str(r.country, "JP");
    r = look(geo, "172.16.0.1");
    is_int(r.source, DOM_GEO_SPECIAL);
    r = look(geo, "5.2.0.1");
    is_int(r.source, DOM_GEO_DATABASE);
    is_str(r.country, "FR");
    dom_geo_release(geo);

    /* bad overrides are refused */
    char err[512];
    dom_geo_override_t b;
    memset(&b, 0, sizeof(b));
    b.cidr = cidr("5.0.0.0/8");
    strcpy(b.country, "DE");
    strcpy(b.jurisdiction, "eu");
    dom_geo_options_t bo = {.overrides = &b, .n_overrides = 1};
    is_int(dom_geo_open(FIXTURES "geo-test.mmdb", &bo, &geo, err, sizeof(err)), DOM_EINVAL);
    printf("# %s\n", err);
    b.jurisdiction[0] = '\0';
    strcpy(b.country, "de");
    is_int(dom_geo_open(FIXTURES "geo-test.mmdb", &bo, &geo, err, sizeof(err)), DOM_EINVAL);
    strcpy(b.country, "DE");
    strcpy(b.subdivision, "US-CA");
    is_int(dom_geo_open(FIXTURES "geo-test.mmdb", &bo, &geo, err, sizeof(err)), DOM_EINVAL);
    b.subdivision[0] = '\0';
    b.cidr.prefix = 33;
    is_int(dom_geo_open_none(&bo, &geo), DOM_EINVAL);
    ok(geo == NULL);
}

static void test_corrupt(void)
{
    static const char *const files[] = {"geo-truncated.mmdb",    "geo-truncated-meta.mmdb", "geo-flipped-tree.mmdb",
                                        "geo-flipped-data.mmdb", "geo-bad-metadata.mmdb",   "geo-empty.mmdb",
                                        "geo-not-mmdb.mmdb",     "does-not-exist.mmdb",     ""};
    static const char *const expect[] = {"metadata marker",         "metadata marker", "search tree is corrupt",
                                         "data section is corrupt", "node_count",      "empty",
                                         "metadata marker",         "No such file",    "not a regular file"};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); ++i) {
        char path[512], err[512];
        snprintf(path, sizeof(path), FIXTURES "%s", files[i]);
        dom_geo_t *geo = (dom_geo_t *)1;
        err[0] = '\0';
        int rc = dom_geo_open(path, NULL, &geo, err, sizeof(err));
        printf("# %s -> %s\n", files[i], err);
        is_int(rc, DOM_EGEO);
        ok(geo == NULL);
        ok(strstr(err, path) != NULL);
        if (!ok(strstr(err, expect[i]) != NULL))
            printf("#   want \"%s\" in the message\n", expect[i]);
    }

    /* No error buffer at all is fine. */
    dom_geo_t *geo;
    is_int(dom_geo_open(FIXTURES "geo-empty.mmdb", NULL, &geo, NULL, 0), DOM_EGEO);

    /* With the data-record check off (it cannot be exhaustive on a huge database), a corrupt
     * record reached by a lookup is an error, counted, and an unknown location. */
    dom_geo_options_t o = {.shape = DOM_GEO_SHAPE_GEOIP2}; /* shape detection would decode records too */
    geo = open_without_data_check(FIXTURES "geo-flipped-data.mmdb", &o);
    if (ok(geo != NULL)) {
        dom_geo_result_t r = look(geo, "5.1.2.3");
        is_int(r.source, DOM_GEO_ERROR);
        is_str(r.country, "");
        is_int(dom_geo_error_count(geo), 1);
        r = look(geo, "2a00:5::1");
        is_int(r.source, DOM_GEO_ERROR);
        is_int(dom_geo_error_count(geo), 2);
        r = look(geo, "127.0.0.1"); /* special ranges never reach the database */
        is_int(r.source, DOM_GEO_SPECIAL);
        is_int(dom_geo_error_count(geo), 2);
        dom_geo_release(geo);
    }
}

static void open_and_poke(const char *path, int *opened, int *refused)
{
    static const char *const probes[] = {"1.1.1.1",       "2.125.160.216", "81.2.69.160",
                                         "216.160.83.56", "89.160.20.112", "2001:218::1",
                                         "2a02:d280::1",  "::1.2.3.4",     "5.1.2.3"};
    char err[512];
    dom_geo_t *geo = NULL;
    if (dom_geo_open(path, NULL, &geo, err, sizeof(err)) != 0) {
        ++*refused;
        ok(err[0] != '\0');
        printf("#   refused %s: %s\n", path, err);
        return;
    }
    ++*opened;
    dom_geo_t *raw = NULL;
    open_database(path, NULL, 0, &raw, err, sizeof(err)); /* the lookup path without open's record check */
    for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); ++i) {
        dom_geo_result_t r = look(geo, probes[i]);
        ok(r.source != DOM_GEO_ERROR); /* open checked every record: no decode error is left */
        if (raw != NULL)
            r = look(raw, probes[i]);
    }
    is_int(compare_random(geo, 5000), 0);
    dom_geo_release(raw);
    dom_geo_release(geo);
}

static void walk(const char *dir, int *opened, int *refused)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[1024];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(path, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode))
            walk(path, opened, refused);
        else if (strstr(e->d_name, ".mmdb") != NULL || strstr(e->d_name, "-mmdb") != NULL)
            open_and_poke(path, opened, refused);
    }
    closedir(d);
}

static void test_maxmind(void)
{
    struct stat st;
    if (stat(MAXMIND_TEST "/test-data/GeoIP2-City-Test.mmdb", &st) != 0) {
        printf("# skip: MaxMind test databases not present\n");
        return;
    }
    dom_geo_t *geo = open_ok(MAXMIND_TEST "/test-data/GeoIP2-City-Test.mmdb", NULL);
    if (ok(geo != NULL)) {
        is_int(dom_geo_metadata(geo)->shape, DOM_GEO_SHAPE_GEOIP2);
        dom_geo_result_t r = look(geo, "2.125.160.216");
        is_int(r.source, DOM_GEO_DATABASE);
        is_str(r.country, "GB");
        is_str(r.subdivision, "GB-ENG");
        r = look(geo, "216.160.83.56");
        is_str(r.country, "US");
        is_str(r.subdivision, "US-WA");
        r = look(geo, "::ffff:2.125.160.216");
        is_str(r.country, "GB");
        dom_geo_release(geo);
    }
    /* a broken node count MaxMind made themselves */
    char err[512];
    is_int(
        dom_geo_open(MAXMIND_TEST "/test-data/GeoIP2-City-Test-Invalid-Node-Count.mmdb", NULL, &geo, err, sizeof(err)),
        DOM_EGEO);
    int opened = 0, refused = 0;
    walk(MAXMIND_TEST "/bad-data", &opened, &refused);
    printf("# bad-data: %d opened, %d refused\n", opened, refused);
    ok(refused > 0);
    opened = refused = 0;
    walk(MAXMIND_TEST "/test-data", &opened, &refused);
    printf("# test-data: %d opened, %d refused\n", opened, refused);
    ok(opened >= 4);
}

static void test_real_flat(void)
{
    struct stat st;
    if (stat(REAL_FLAT, &st) != 0) {
        printf("# skip: %s not present\n", REAL_FLAT);
        return;
    }
    dom_geo_t *geo = open_ok(REAL_FLAT, NULL);
    if (!ok(geo != NULL))
        return;
    is_int(dom_geo_metadata(geo)->shape, DOM_GEO_SHAPE_FLAT);
    ok(dom_geo_metadata(geo)->node_count > 100000);
    dom_geo_result_t r = look(geo, "8.8.8.8");
    is_int(r.source, DOM_GEO_DATABASE);
    ok(strlen(r.country) == 2);
    r = look(geo, "192.168.1.1");
    is_int(r.source, DOM_GEO_SPECIAL);
    is_int(dom_geo_error_count(geo), 0);
    dom_geo_release(geo);
}

static void test_special(void)
{
    static const char *const special[] = {
        "0.0.0.0",
        "0.1.2.3",
        "10.0.0.1",
        "100.64.0.1",
        "100.127.255.255",
        "127.0.0.1",
        "169.254.1.1",
        "172.16.0.1",
        "172.31.255.255",
        "192.0.0.8",
        "192.0.2.1",
        "192.88.99.1",
        "192.168.0.1",
        "198.18.0.1",
        "198.19.255.255",
        "198.51.100.1",
        "203.0.113.1",
        "224.0.0.1",
        "239.1.1.1",
        "240.0.0.1",
        "255.255.255.255",
        "::",
        "::1",
        "::1.2.3.4",
        "64:ff9b::1.2.3.4",
        "64:ff9b:1::1",
        "100::1",
        "2001::1",
        "2001:2::1",
        "2001:10::1",
        "2001:db8::1",
        "2002:102:304::1",
        "3fff::1",
        "fc00::1",
        "fd12:3456::1",
        "fe80::1",
        "fec0::1",
        "ff02::1",
        "::ffff:192.168.1.1",
    };
    static const char *const public[] = {"1.1.1.1",        "8.8.8.8",         "100.63.255.255", "100.128.0.0",
                                         "172.15.255.255", "172.32.0.0",      "192.0.3.1",      "198.17.255.255",
                                         "198.20.0.0",     "223.255.255.255", "2001:200::1",    "2001:4860::8888",
                                         "2a00:1::1",      "2c0f::1",         "3ffe::1",        "::ffff:8.8.8.8"};
    for (size_t i = 0; i < sizeof(special) / sizeof(special[0]); ++i) {
        dom_addr_t a = addr_of(special[i], 1);
        if (!ok(dom_addr_is_special(&a)))
            printf("#   %s\n", special[i]);
    }
    for (size_t i = 0; i < sizeof(public) / sizeof(public[0]); ++i) {
        dom_addr_t a = addr_of(public[i], 1);
        if (!ok(!dom_addr_is_special(&a)))
            printf("#   %s\n", public[i]);
    }
}

static void test_refcount_and_none(void)
{
    dom_geo_t *geo = open_ok(FIXTURES "geo-test.mmdb", NULL);
    if (ok(geo != NULL)) {
        dom_geo_retain(geo);
        dom_geo_retain(geo);
        dom_geo_release(geo);
        dom_geo_release(geo);
        is_str(look(geo, "5.12.0.1").country, "CA"); /* one reference left: still usable */
        dom_geo_release(geo);                        /* the last: closed (ASan checks the rest) */
    }
    dom_geo_release(NULL);
    dom_geo_retain(NULL);

    dom_geo_override_t ov;
    memset(&ov, 0, sizeof(ov));
    ov.cidr = cidr("192.168.0.0/16");
    strcpy(ov.jurisdiction, "office");
    dom_geo_options_t o = {.overrides = &ov, .n_overrides = 1};
    geo = NULL;
    if (!is_int(dom_geo_open_none(&o, &geo), 0) || !ok(geo != NULL))
        return;
    dom_geo_result_t r = look(geo, "5.1.2.3");
    is_int(r.source, DOM_GEO_NONE);
    r = look(geo, "127.0.0.1");
    is_int(r.source, DOM_GEO_SPECIAL);
    r = look(geo, "192.168.7.7");
    is_int(r.source, DOM_GEO_OVERRIDE);
    is_str(r.jurisdiction, "office");
    is_int(dom_geo_metadata(geo)->node_count, 0);
    is_str(dom_geo_metadata(geo)->database_type, "");
    is_str(dom_geo_path(geo), "");
    is_int(dom_geo_error_count(geo), 0);
    dom_geo_release(geo);
    is_int(dom_geo_open_none(NULL, &geo), 0);
    dom_geo_release(geo);
}

/* Seeded single- and multi-byte mutations of geo-test.mmdb: each is refused with a message,
 * or opens and then every lookup answers (errors only as counted DOM_GEO_ERROR). */
static void test_mutations(void)
{
    FILE *f = fopen(FIXTURES "geo-test.mmdb", "rb");
    if (!ok(f != NULL))
        return;
    static uint8_t orig[65536], buf[65536];
    size_t len = fread(orig, 1, sizeof(orig), f);
    fclose(f);
    char path[512];
    snprintf(path, sizeof(path), DOM_BINARY_DIR "/unit_core_geo-mutant-%ld.mmdb", (long)getpid());
    static const char *const probes[] = {"5.1.2.3", "5.9.2.3", "2a00:1::1", "2a00:1a::1", "45.0.1.2", "8.8.8.8"};
    uint32_t x = 20240101;
    int refused = 0, opened = 0, bad = 0;
    for (int i = 0; i < 600; ++i) {
        memcpy(buf, orig, len);
        int flips = 1 + i % 3;
        for (int k = 0; k < flips; ++k) {
            x = x * 1103515245u + 12345u;
            size_t at = (x >> 8) % len;
            x = x * 1103515245u + 12345u;
            buf[at] ^= (uint8_t)(1 + (x >> 16) % 255);
        }
        f = fopen(path, "wb");
        if (f == NULL || fwrite(buf, 1, len, f) != len) {
            ++bad;
            if (f != NULL)
                fclose(f);
            continue;
        }
        fclose(f);
        char err[512] = "";
        dom_geo_t *geo = NULL;
        if (dom_geo_open(path, NULL, &geo, err, sizeof(err)) != 0) {
            ++refused;
            bad += err[0] == '\0' || geo != NULL;
            continue;
        }
        ++opened;
        uint64_t errors = 0;
        for (size_t p = 0; p < sizeof(probes) / sizeof(probes[0]); ++p)
            errors += look(geo, probes[p]).source == DOM_GEO_ERROR;
        bad += dom_geo_error_count(geo) != errors;
        bad += compare_random(geo, 200); /* a mutant's odd tree: the table answers as decoding would */
        dom_geo_release(geo);
    }
    unlink(path);
    printf("# mutations: %d refused, %d opened\n", refused, opened);
    is_int(bad, 0);
    ok(refused > 0 && opened > 0);
}

struct worker {
    dom_geo_t *geo;
    int mismatches;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    dom_geo_retain(w->geo);
    for (int i = 0; i < 20000; ++i) {
        char ip[32];
        int n = 1 + i % 26;
        snprintf(ip, sizeof(ip), "5.%d.%d.%d", n, i % 256, (i * 7) % 256);
        dom_geo_result_t r = look(w->geo, ip);
        if (r.source != DOM_GEO_DATABASE || r.country[0] == '\0')
            ++w->mismatches;
    }
    dom_geo_release(w->geo);
    return NULL;
}

static void test_threads(void)
{
    dom_geo_t *geo = open_ok(FIXTURES "geo-test.mmdb", NULL);
    if (!ok(geo != NULL))
        return;
    struct worker w[4];
    pthread_t t[4];
    for (int i = 0; i < 4; ++i) {
        w[i].geo = geo;
        w[i].mismatches = 0;
        ok(pthread_create(&t[i], NULL, worker_main, &w[i]) == 0);
    }
    int mismatches = 0;
    for (int i = 0; i < 4; ++i) {
        pthread_join(t[i], NULL);
        mismatches += w[i].mismatches;
    }
    is_int(mismatches, 0);
    is_int(dom_geo_error_count(geo), 0);
    dom_geo_release(geo);
}

int main(void)
{
    subtest("GeoIP2 shape: the fixture table, EU flag, subdivisions, mapped, not found", test_geoip2_table);
    subtest("metadata", test_metadata);
    subtest("flat shape detected and configured", test_flat);
    subtest("custom data paths", test_custom_paths);
    subtest("overrides", test_overrides);
    subtest("corrupt databases", test_corrupt);
    subtest("MaxMind test databases", test_maxmind);
    subtest("real flat database", test_real_flat);
    subtest("special-purpose ranges", test_special);
    subtest("refcount and no database", test_refcount_and_none);
    subtest("lookups from several threads", test_threads);
    subtest("mutated databases", test_mutations);
    subtest("the search-tree walk ends where libmaxminddb's does", test_walk);
    subtest("the decoded-record table answers as decoding each record does", test_table_matches_decoding);
    return done_testing();
}

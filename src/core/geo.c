/*
 * Step 2 of the request path: where is the client? See docs/internals/geo.md.
 *
 * Open does the expensive checking once (every search-tree record in range, every distinct
 * data record decodes with the configured paths) and keeps what the decoding gave in a
 * table keyed by data offset, so that the per-request lookup is our own walk of the
 * search tree plus one table probe: no MMDB_aget_value, no allocation. Anything the fast
 * path does not cover exactly falls back to MMDB_lookup_sockaddr + MMDB_aget_value.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <maxminddb.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include "domicile/geo.h"
#include "util/validate.h"

#define PATH_MAX_ELEMS 16
#define PATH_MAX_LEN 255
/* Beyond this many distinct data records open stops decoding them (a full GeoIP2-City has
 * a few hundred thousand); lookups still handle decode errors of the unchecked rest. */
#define VERIFY_MAX_RECORDS 4000000u
#define METADATA_MARKER "\xab\xcd\xefMaxMind.com"
#define METADATA_MARKER_LEN 14
#define METADATA_MAX_SIZE (128 * 1024)

/* A dot-separated data path split into the NULL-terminated array MMDB_aget_value wants. */
typedef struct data_path {
    const char *elems[PATH_MAX_ELEMS + 1];
    char buf[PATH_MAX_LEN + 1];
    char text[PATH_MAX_LEN + 1]; /* as given, for messages */
    int enabled;
} data_path_t;

/*
 * What one data record gives, as a lookup returns it: country "" (both bytes 0) when the
 * record has no usable country (then the rest is 0 too); subdivision is the part after
 * "CC-", NUL-padded. 12 bytes, so a table of a few hundred thousand records stays small.
 */
typedef struct record_slot {
    uint32_t offset; /* data-section offset; SLOT_FREE when the slot is unused */
    char country[2];
    char subdivision[3];
    uint8_t in_eu;
} record_slot_t;

#define SLOT_FREE UINT32_MAX

struct dom_geo {
    atomic_size_t refs;
    _Atomic uint64_t errors;
    int has_db;
    int eu_flagged; /* some record carries the EU flag (else every in_eu is derived from the EU-27 list) */
    MMDB_s mmdb;
    dom_geo_metadata_t meta;
    char *path;
    data_path_t country, subdivision, eu;
    dom_geo_override_t *overrides; /* longest prefix first */
    size_t n_overrides;
    /* The decoded-record table (open addressing, linear probing, power-of-two size), or NULL
     * when open did not decode every record (the 4M cap, or open_database() without the data
     * check) or could not allocate it. */
    record_slot_t *records;
    uint32_t records_mask;
    /* Where IPv4 lookups start in an IPv6 tree, as libmaxminddb finds it: the node after 96
     * left branches (v4_start_bit 96), or the record met earlier (v4_start_bit < 96). */
    uint32_t v4_start;
    unsigned v4_start_bit;
    /* Countries (AA..ZZ, one bit each) for which some record gives a subdivision, known when open checked
     * every record (else the database may give one anywhere). */
    uint8_t subdivision_countries[(26 * 26 + 7) / 8];
    int subdivisions_known;
};

/* ---- addresses ---- */

static const uint8_t v4_mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

/* dom_addr_t is normally unmapped already; callers that build one by hand may not have. */
static void normalise(const dom_addr_t *in, dom_addr_t *out)
{
    if (in->family == AF_INET6 && memcmp(in->bytes, v4_mapped_prefix, 12) == 0) {
        memset(out, 0, sizeof(*out));
        out->family = AF_INET;
        memcpy(out->bytes, in->bytes + 12, 4);
    } else {
        *out = *in;
    }
}

static int prefix_match(const uint8_t *net, unsigned prefix, const uint8_t *addr)
{
    unsigned full = prefix / 8, rest = prefix % 8;
    if (memcmp(net, addr, full) != 0)
        return 0;
    if (rest == 0)
        return 1;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (net[full] & mask) == (addr[full] & mask);
}

/* Our own containment test, so geo.c does not depend on clientip.c; family must match. */
static int cidr_contains(const dom_cidr_t *cidr, const dom_addr_t *addr)
{
    if (cidr->net.family != addr->family)
        return 0;
    unsigned max = addr->family == AF_INET ? 32 : 128;
    return cidr->prefix <= max && prefix_match(cidr->net.bytes, cidr->prefix, addr->bytes);
}

static uint32_t be24(const uint8_t *p)
{
    return (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | be24(p + 1);
}

/* A special range as the first 32 bits of the address under a mask: every prefix below is at most 32 bits
 * long, so one compare per range, IPv4 or IPv6. */
typedef struct special_range {
    uint32_t net, mask;
} special_range_t;

#define RANGE(a, b, c, d, prefix)                                                                                      \
    {                                                                                                                  \
        ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (uint32_t)(d)), ~0u << (32 - (prefix))       \
    }

/* IANA IPv4 Special-Purpose Address Registry, plus multicast and the reserved 240/4. Anycast
 * entries (AS112, AMT, 6to4 relays) are in too: an anycast address has no single location. */
static const special_range_t special_v4[] = {
    RANGE(0, 0, 0, 0, 8),       /* this network */
    RANGE(10, 0, 0, 0, 8),      /* RFC 1918 */
    RANGE(100, 64, 0, 0, 10),   /* CGNAT shared address space */
    RANGE(127, 0, 0, 0, 8),     /* loopback */
    RANGE(169, 254, 0, 0, 16),  /* link-local */
    RANGE(172, 16, 0, 0, 12),   /* RFC 1918 */
    RANGE(192, 0, 0, 0, 24),    /* IETF protocol assignments */
    RANGE(192, 0, 2, 0, 24),    /* TEST-NET-1 */
    RANGE(192, 31, 196, 0, 24), /* AS112-v4 */
    RANGE(192, 52, 193, 0, 24), /* AMT */
    RANGE(192, 88, 99, 0, 24),  /* deprecated 6to4 relay anycast */
    RANGE(192, 168, 0, 0, 16),  /* RFC 1918 */
    RANGE(192, 175, 48, 0, 24), /* direct delegation AS112 */
    RANGE(198, 18, 0, 0, 15),   /* benchmarking */
    RANGE(198, 51, 100, 0, 24), /* TEST-NET-2 */
    RANGE(203, 0, 113, 0, 24),  /* TEST-NET-3 */
    RANGE(224, 0, 0, 0, 4),     /* multicast */
    RANGE(240, 0, 0, 0, 4),     /* reserved, including the limited broadcast address */
};

/* IPv6 outside 2000::/3 is special as a whole (::, ::1, 64:ff9b::/96, 100::/64, fc00::/7,
 * fe80::/10, ff00::/8, ...); these are the special blocks inside it. 6to4 and Teredo embed
 * an IPv4 address, but whose (relay or client) is not knowable here: unknown, fail closed. */
static const special_range_t special_v6[] = {
    RANGE(0x20, 0x01, 0x00, 0x00, 23), /* IETF protocol assignments: Teredo, benchmarking, ORCHID, AMT, AS112 */
    RANGE(0x20, 0x01, 0x0d, 0xb8, 32), /* documentation */
    RANGE(0x20, 0x02, 0, 0, 16),       /* 6to4 */
    RANGE(0x3f, 0xff, 0x00, 0, 20),    /* documentation (RFC 9637) */
};

static int in_ranges(uint32_t top, const special_range_t *ranges, size_t n)
{
    for (size_t i = 0; i < n; ++i)
        if ((top & ranges[i].mask) == ranges[i].net)
            return 1;
    return 0;
}

/* dom_addr_is_special for an address already normalised (IPv4-mapped IPv6 unmapped). */
static int is_special(const dom_addr_t *a)
{
    uint32_t top = be32(a->bytes);
    if (a->family == AF_INET)
        return in_ranges(top, special_v4, sizeof(special_v4) / sizeof(special_v4[0]));
    if (a->family != AF_INET6 || (top & 0xe0000000u) != 0x20000000u)
        return 1;
    return in_ranges(top, special_v6, sizeof(special_v6) / sizeof(special_v6[0]));
}

int dom_addr_is_special(const dom_addr_t *addr)
{
    if (addr == NULL)
        return 1;
    dom_addr_t a;
    normalise(addr, &a);
    return is_special(&a);
}

/* ---- codes ---- */

static int is_upper(char c)
{
    return c >= 'A' && c <= 'Z';
}

static int is_country(const char *s, size_t len)
{
    return len == 2 && is_upper(s[0]) && is_upper(s[1]);
}

static int is_subdivision_part(const char *s, size_t len)
{
    if (len < 1 || len > 3)
        return 0;
    for (size_t i = 0; i < len; ++i)
        if (!is_upper(s[i]) && !(s[i] >= '0' && s[i] <= '9'))
            return 0;
    return 1;
}

/* ---- records ---- */

/* MMDB_aget_value on a path; 0 with *found = 0 when the record simply lacks it. */
static int get_value(MMDB_entry_s *entry, const data_path_t *path, MMDB_entry_data_s *value, int *found)
{
    *found = 0;
    if (!path->enabled)
        return MMDB_SUCCESS;
    int rc = MMDB_aget_value(entry, value, path->elems);
    /* "does not match" is an absent element (an empty subdivisions array, a scalar where a map
     * was expected): the record just has no such field. */
    if (rc == MMDB_LOOKUP_PATH_DOES_NOT_MATCH_DATA_ERROR)
        return MMDB_SUCCESS;
    if (rc == MMDB_SUCCESS)
        *found = value->has_data;
    return rc;
}

/*
 * Reads country, subdivision and EU flag of a data record into out (which the caller zeroed).
 * Returns MMDB_SUCCESS or the libmaxminddb error of a decode failure. Garbage codes are dropped.
 */
static int read_record(const dom_geo_t *geo, MMDB_entry_s *entry, dom_geo_result_t *out, int *eu_found)
{
    MMDB_entry_data_s v;
    int found, rc;

    if ((rc = get_value(entry, &geo->country, &v, &found)) != MMDB_SUCCESS)
        return rc;
    if (found && v.type == MMDB_DATA_TYPE_UTF8_STRING && is_country(v.utf8_string, v.data_size))
        memcpy(out->country, v.utf8_string, 2);

    if ((rc = get_value(entry, &geo->subdivision, &v, &found)) != MMDB_SUCCESS)
        return rc;
    if (found && v.type == MMDB_DATA_TYPE_UTF8_STRING && out->country[0] != '\0') {
        const char *s = v.utf8_string;
        size_t len = v.data_size;
        /* Some databases store the full ISO 3166-2 code ("US-CA"); accept it if it names our country. */
        if (len > 3 && s[2] == '-' && memcmp(s, out->country, 2) == 0) {
            s += 3;
            len -= 3;
        }
        if (is_subdivision_part(s, len)) {
            memcpy(out->subdivision, out->country, 2);
            out->subdivision[2] = '-';
            memcpy(out->subdivision + 3, s, len);
            out->subdivision[3 + len] = '\0';
        }
    }

    if ((rc = get_value(entry, &geo->eu, &v, &found)) != MMDB_SUCCESS)
        return rc;
    if (found && v.type == MMDB_DATA_TYPE_BOOLEAN)
        out->in_eu = v.boolean ? 1 : 0;
    if (eu_found != NULL)
        *eu_found = found && v.type == MMDB_DATA_TYPE_BOOLEAN;
    return MMDB_SUCCESS;
}

/* The database part of a lookup. Returns MMDB_SUCCESS or the error (not yet counted). */
static int lookup_db(const dom_geo_t *geo, const dom_addr_t *a, dom_geo_result_t *out)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    if (a->family == AF_INET) {
        struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
        sin->sin_family = AF_INET;
        memcpy(&sin->sin_addr, a->bytes, 4);
    } else {
        if (geo->meta.ip_version == 4)
            return MMDB_SUCCESS; /* an IPv4-only database just has no IPv6 networks */
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
        sin6->sin6_family = AF_INET6;
        memcpy(&sin6->sin6_addr, a->bytes, 16);
    }
    int mmdb_error = MMDB_SUCCESS;
    MMDB_lookup_result_s res = MMDB_lookup_sockaddr(&geo->mmdb, (const struct sockaddr *)&ss, &mmdb_error);
    if (mmdb_error != MMDB_SUCCESS)
        return mmdb_error;
    if (!res.found_entry)
        return MMDB_SUCCESS;
    int rc = read_record(geo, &res.entry, out, NULL);
    if (rc != MMDB_SUCCESS) {
        out->country[0] = out->subdivision[0] = '\0';
        out->in_eu = 0;
        return rc;
    }
    if (out->country[0] != '\0')
        out->source = DOM_GEO_DATABASE;
    else /* a record without a usable country says nothing we can route on */
        out->subdivision[0] = '\0', out->in_eu = 0;
    return MMDB_SUCCESS;
}

/* ---- the decoded-record table ---- */

static uint32_t slot_of(uint32_t offset, uint32_t mask)
{
    /* Fibonacci hashing: record offsets are clustered and often multiples of a record size. */
    return (uint32_t)(((uint64_t)offset * 0x9e3779b97f4a7c15ull) >> 32) & mask;
}

static const record_slot_t *find_record(const dom_geo_t *geo, uint32_t offset)
{
    /* The table is never more than 2/3 full, so a free slot ends every probe. */
    for (uint32_t i = slot_of(offset, geo->records_mask);; i = (i + 1) & geo->records_mask) {
        const record_slot_t *slot = &geo->records[i];
        if (slot->offset == offset)
            return slot;
        if (slot->offset == SLOT_FREE)
            return NULL;
    }
}

/* Keeps what read_record gave for the record at `offset`, as lookup_db would return it. */
static void put_record(dom_geo_t *geo, uint32_t offset, const dom_geo_result_t *r)
{
    uint32_t i = slot_of(offset, geo->records_mask);
    while (geo->records[i].offset != SLOT_FREE && geo->records[i].offset != offset)
        i = (i + 1) & geo->records_mask;
    record_slot_t *slot = &geo->records[i];
    memset(slot, 0, sizeof(*slot));
    slot->offset = offset;
    if (r->country[0] == '\0') /* lookup_db drops the rest of a record without a country */
        return;
    memcpy(slot->country, r->country, 2);
    if (r->subdivision[0] != '\0')
        memcpy(slot->subdivision, r->subdivision + 3, strnlen(r->subdivision + 3, 3));
    slot->in_eu = (uint8_t)r->in_eu;
}

/* A big-endian 32-bit load that compiles to one load and a byte swap. */
static uint32_t load_be32(const uint8_t *p)
{
    uint32_t x;
    memcpy(&x, p, 4);
    return __builtin_bswap32(x);
}

/*
 * libmaxminddb's search-tree walk (find_address_in_search_tree) over up to 64 address bits, taken from
 * the top of `word`, starting at `value`; stops at the first record that is not a node. Each step is one
 * 4-byte load at the chosen record, picked by the address bit without a branch: with random addresses a
 * branch would mispredict every other step. A 4-byte load of a 24-bit right record reads one byte into
 * the next node or the 16-byte separator after the tree, never past the mapping.
 */
static uint32_t walk_tree(const MMDB_s *m, uint32_t value, uint64_t word, unsigned nbits)
{
    const uint8_t *tree = m->file_content;
    uint32_t nodes = m->metadata.node_count;
    unsigned i = 0;
    switch (m->metadata.record_size) {
    case 24:
        for (; i < nbits && value < nodes; ++i, word <<= 1)
            value = load_be32(tree + (size_t)value * 6 + 3 * (word >> 63)) >> 8;
        break;
    case 28:
        /* left: bytes 0-2 plus the high nibble of byte 3; right: the low nibble of byte 3 plus bytes 4-6 */
        for (; i < nbits && value < nodes; ++i, word <<= 1) {
            uint32_t right = (uint32_t)(word >> 63), x = load_be32(tree + (size_t)value * 7 + 3 * right);
            value = right ? x & 0x0fffffffu : (x >> 8 | (x & 0xf0u) << 20);
        }
        break;
    default:
        for (; i < nbits && value < nodes; ++i, word <<= 1)
            value = load_be32(tree + (size_t)value * 8 + 4 * (word >> 63));
        break;
    }
    return value;
}

static uint64_t load_be64(const uint8_t *p)
{
    return (uint64_t)load_be32(p) << 32 | load_be32(p + 4);
}

/* The record an address ends at in the search tree, as libmaxminddb walks it; a (family-checked) address. */
static uint32_t walk_address(const dom_geo_t *geo, const dom_addr_t *a)
{
    const MMDB_s *m = &geo->mmdb;
    if (a->family == AF_INET6) {
        uint32_t value = walk_tree(m, 0, load_be64(a->bytes), 64);
        return walk_tree(m, value, load_be64(a->bytes + 8), 64);
    }
    /* In an IPv6 tree IPv4 starts at ::/96; when v4_start_bit < 96, v4_start is already a record. */
    return walk_tree(m, m->metadata.ip_version == 6 ? geo->v4_start : 0, (uint64_t)load_be32(a->bytes) << 32, 32);
}

/*
 * The database part of a lookup from the decoded-record table. Returns 1 when it answered
 * (into `out`, which the caller zeroed), 0 when the caller must ask libmaxminddb instead:
 * every case the table does not answer exactly as lookup_db would goes there.
 */
static int lookup_table(const dom_geo_t *geo, const dom_addr_t *a, dom_geo_result_t *out)
{
    const MMDB_s *m = &geo->mmdb;
    uint32_t nodes = m->metadata.node_count;
    if (a->family == AF_INET6 && m->metadata.ip_version == 4)
        return 0;
    uint32_t value = walk_address(geo, a);
    if (value == nodes) /* "empty": not in the database */
        return 1;
    /* Still inside the tree after every address bit, or a record past the data section: libmaxminddb's
     * own answer (an error, or whatever it decodes) is the reference, so let it give it. */
    if (value < nodes || value - nodes < 16 || value - nodes >= m->data_section_size)
        return 0;
    const record_slot_t *slot = find_record(geo, value - nodes - 16);
    if (slot == NULL)
        return 0;
    if (slot->country[0] == '\0')
        return 1;
    out->source = DOM_GEO_DATABASE;
    memcpy(out->country, slot->country, 2);
    if (slot->subdivision[0] != '\0') {
        memcpy(out->subdivision, slot->country, 2);
        out->subdivision[2] = '-';
        memcpy(out->subdivision + 3, slot->subdivision, 3); /* NUL-padded; out was zeroed */
    }
    out->in_eu = slot->in_eu;
    return 1;
}

/* Where nothing says whether the country is in the EU, the EU-27 list of the ISO 3166 table does. */
static void derive_in_eu(dom_geo_result_t *out)
{
    if (out->country[0] == '\0')
        return;
    out->in_eu = dom__iso_country_in_eu(out->country, 2);
    out->in_eu_derived = 1;
}

void dom_geo_lookup(dom_geo_t *geo, const dom_addr_t *addr, dom_geo_result_t *out)
{
    memset(out, 0, sizeof(*out));
    out->source = DOM_GEO_NONE;
    if (geo == NULL || addr == NULL)
        return;
    dom_addr_t a;
    normalise(addr, &a);
    if (a.family != AF_INET && a.family != AF_INET6)
        return;

    /* Overrides come first: an office VPN on 10/8 mapped by the operator is legitimate. */
    for (size_t i = 0; i < geo->n_overrides; ++i) {
        const dom_geo_override_t *ov = &geo->overrides[i];
        if (cidr_contains(&ov->cidr, &a)) {
            out->source = DOM_GEO_OVERRIDE;
            memcpy(out->country, ov->country, sizeof(out->country));
            memcpy(out->subdivision, ov->subdivision, sizeof(out->subdivision));
            memcpy(out->jurisdiction, ov->jurisdiction, sizeof(out->jurisdiction));
            derive_in_eu(out);
            return;
        }
    }
    if (is_special(&a)) {
        out->source = DOM_GEO_SPECIAL;
        return;
    }
    if (!geo->has_db)
        return;
    if (geo->records == NULL || !lookup_table(geo, &a, out)) {
        if (lookup_db(geo, &a, out) != MMDB_SUCCESS) {
            atomic_fetch_add_explicit(&geo->errors, 1, memory_order_relaxed);
            out->source = DOM_GEO_ERROR;
        }
    }
    if (!geo->eu_flagged)
        derive_in_eu(out);
}

const char *dom_geo_in_eu_source_name(const dom_geo_result_t *r)
{
    return r->in_eu_derived ? "derived" : "database";
}

/* ---- options ---- */

static int set_path(data_path_t *p, const char *given, const char *dflt, const char *what, char *err, size_t errlen)
{
    const char *s = given != NULL ? given : dflt;
    memset(p, 0, sizeof(*p));
    if (s == NULL || s[0] == '\0') /* "" turns an optional field off */
        return 0;
    size_t len = strlen(s);
    if (len > PATH_MAX_LEN) {
        snprintf(err, errlen, "geo %s path is longer than %d characters", what, PATH_MAX_LEN);
        return DOM_EINVAL;
    }
    memcpy(p->text, s, len + 1);
    memcpy(p->buf, s, len + 1);
    size_t n = 0;
    char *elem = p->buf;
    for (size_t i = 0; i <= len; ++i) {
        char c = p->buf[i];
        if (c != '.' && c != '\0') {
            if ((unsigned char)c <= ' ' || c == 0x7f) {
                snprintf(err, errlen, "geo %s path \"%s\" contains a space or control character", what, s);
                return DOM_EINVAL;
            }
            continue;
        }
        p->buf[i] = '\0';
        if (*elem == '\0') {
            snprintf(err, errlen, "geo %s path \"%s\" has an empty element (use a.b.c)", what, s);
            return DOM_EINVAL;
        }
        if (n == PATH_MAX_ELEMS) {
            snprintf(err, errlen, "geo %s path \"%s\" has more than %d elements", what, s, PATH_MAX_ELEMS);
            return DOM_EINVAL;
        }
        p->elems[n++] = elem;
        elem = p->buf + i + 1;
    }
    p->elems[n] = NULL;
    p->enabled = 1;
    return 0;
}

static int set_paths(dom_geo_t *geo, const dom_geo_options_t *opts, dom_geo_shape_t shape, char *err, size_t errlen)
{
    int flat = shape == DOM_GEO_SHAPE_FLAT;
    int rc;
    if ((rc = set_path(&geo->country, opts->country_path, flat ? "country_code" : "country.iso_code", "country", err,
                       errlen)) != 0 ||
        (rc = set_path(&geo->subdivision, opts->subdivision_path, flat ? NULL : "subdivisions.0.iso_code",
                       "subdivision", err, errlen)) != 0 ||
        (rc = set_path(&geo->eu, opts->eu_path, flat ? NULL : "country.is_in_european_union", "EU flag", err,
                       errlen)) != 0)
        return rc;
    if (!geo->country.enabled) {
        snprintf(err, errlen, "geo country path must not be empty");
        return DOM_EINVAL;
    }
    return 0;
}

static int override_cmp(const void *a, const void *b)
{
    const dom_geo_override_t *x = a, *y = b;
    /* IPv4 prefixes count as their IPv6-mapped length so families order consistently. */
    unsigned px = x->cidr.prefix + (x->cidr.net.family == AF_INET ? 96 : 0);
    unsigned py = y->cidr.prefix + (y->cidr.net.family == AF_INET ? 96 : 0);
    if (px != py)
        return px > py ? -1 : 1;
    return x < y ? -1 : x > y; /* never equal pointers: keeps the given order for ties (qsort is not stable) */
}

static int copy_overrides(dom_geo_t *geo, const dom_geo_options_t *opts, char *err, size_t errlen)
{
    if (opts->n_overrides == 0)
        return 0;
    if (opts->overrides == NULL) {
        snprintf(err, errlen, "geo overrides: count without a list");
        return DOM_EINVAL;
    }
    if ((geo->overrides = calloc(opts->n_overrides, sizeof(*geo->overrides))) == NULL)
        return DOM_ENOMEM;
    for (size_t i = 0; i < opts->n_overrides; ++i) {
        dom_geo_override_t *ov = &geo->overrides[i];
        *ov = opts->overrides[i];
        ov->country[sizeof(ov->country) - 1] = '\0';
        ov->subdivision[sizeof(ov->subdivision) - 1] = '\0';
        ov->jurisdiction[sizeof(ov->jurisdiction) - 1] = '\0';
        dom_cidr_t *c = &ov->cidr;
        if (c->net.family == AF_INET6 && c->prefix >= 96 && memcmp(c->net.bytes, v4_mapped_prefix, 12) == 0) {
            dom_addr_t v4;
            normalise(&c->net, &v4);
            c->net = v4;
            c->prefix -= 96;
        }
        if ((c->net.family != AF_INET && c->net.family != AF_INET6) ||
            c->prefix > (c->net.family == AF_INET ? 32u : 128u)) {
            snprintf(err, errlen, "geo override %zu: not a valid network", i + 1);
            return DOM_EINVAL;
        }
        if (ov->country[0] == '\0' && ov->subdivision[0] != '\0' && strlen(ov->subdivision) > 3)
            memcpy(ov->country, ov->subdivision, 2); /* "US-CA" names its country */
        int has_country = ov->country[0] != '\0', has_jur = ov->jurisdiction[0] != '\0';
        if (has_country == has_jur) {
            snprintf(err, errlen, "geo override %zu: give either a country or a jurisdiction", i + 1);
            return DOM_EINVAL;
        }
        if (has_country && !is_country(ov->country, strlen(ov->country))) {
            snprintf(err, errlen, "geo override %zu: country \"%s\" is not an ISO 3166-1 code", i + 1, ov->country);
            return DOM_EINVAL;
        }
        size_t sl = strlen(ov->subdivision);
        if (sl != 0 && (!has_country || sl < 4 || memcmp(ov->subdivision, ov->country, 2) != 0 ||
                        ov->subdivision[2] != '-' || !is_subdivision_part(ov->subdivision + 3, sl - 3))) {
            snprintf(err, errlen, "geo override %zu: subdivision \"%s\" is not an ISO 3166-2 code of %s", i + 1,
                     ov->subdivision, ov->country);
            return DOM_EINVAL;
        }
    }
    geo->n_overrides = opts->n_overrides;
    qsort(geo->overrides, geo->n_overrides, sizeof(*geo->overrides), override_cmp);
    return 0;
}

static dom_geo_t *geo_new(void)
{
    dom_geo_t *geo = calloc(1, sizeof(*geo));
    if (geo == NULL)
        return NULL;
    atomic_init(&geo->refs, 1);
    atomic_init(&geo->errors, 0);
    return geo;
}

static void geo_free(dom_geo_t *geo)
{
    if (geo->has_db)
        MMDB_close(&geo->mmdb);
    free(geo->records);
    free(geo->overrides);
    free(geo->path);
    free(geo);
}

/* ---- checking a database at open ---- */

/* Says why MMDB_open refused a file, in words an operator can act on. */
static void explain_open_error(const char *path, int status, int saved_errno, off_t size, char *err, size_t errlen)
{
    if (status == MMDB_FILE_OPEN_ERROR || status == MMDB_IO_ERROR) {
        snprintf(err, errlen, "geo database \"%s\": cannot read it: %s", path, strerror(saved_errno));
        return;
    }
    if (status == MMDB_INVALID_METADATA_ERROR) {
        /* Was the metadata marker there at all? Then the file is cut or the metadata lies. */
        int found = 0;
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            size_t want = size > METADATA_MAX_SIZE ? METADATA_MAX_SIZE : (size_t)size;
            char *buf = malloc(want != 0 ? want : 1);
            if (buf != NULL && pread(fd, buf, want, size - (off_t)want) == (ssize_t)want)
                found = memmem(buf, want, METADATA_MARKER, METADATA_MARKER_LEN) != NULL;
            free(buf);
            close(fd);
        }
        if (!found)
            snprintf(err, errlen,
                     "geo database \"%s\": no MaxMind DB metadata marker in the last 128 KiB: not an mmdb file, "
                     "or truncated",
                     path);
        else
            snprintf(err, errlen,
                     "geo database \"%s\": invalid metadata (missing fields, or the search tree it describes does "
                     "not fit the %lld-byte file: truncated?)",
                     path, (long long)size);
        return;
    }
    if (status == MMDB_UNKNOWN_DATABASE_FORMAT_ERROR) {
        snprintf(err, errlen, "geo database \"%s\": unsupported MaxMind DB format version or record size", path);
        return;
    }
    snprintf(err, errlen, "geo database \"%s\": its metadata does not decode: %s", path, MMDB_strerror(status));
}

/*
 * Drops the pages of [from, from+len) from this process's resident set (they stay in the page
 * cache and fault back in on the next touch). The checks at open read the whole file; without
 * this a 50 MB database would count fully towards the gateway's RSS for no lookup's benefit.
 */
static void release_pages(const uint8_t *from, size_t len)
{
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t start = ((uintptr_t)from + page - 1) & ~(page - 1), end = ((uintptr_t)from + len) & ~(page - 1);
    if (end > start)
        madvise((void *)start, end - start, MADV_DONTNEED);
}

/* The two records of a node, read straight from the mapped tree (the layout is fixed by the spec). */
static void read_node(const MMDB_s *m, uint32_t node, uint32_t rec[2])
{
    const uint8_t *p = m->file_content + (size_t)node * m->full_record_byte_size;
    switch (m->metadata.record_size) {
    case 24:
        rec[0] = be24(p);
        rec[1] = be24(p + 3);
        break;
    case 28:
        rec[0] = (uint32_t)(p[3] & 0xf0) << 20 | be24(p);
        rec[1] = (uint32_t)(p[3] & 0x0f) << 24 | be24(p + 4);
        break;
    default:
        rec[0] = be32(p);
        rec[1] = be32(p + 4);
        break;
    }
}

/*
 * Every record of every node must point to a node, to "empty", or into the data section;
 * the offsets of the data records it points to are marked in `seen` (one bit per byte).
 */
static int check_tree(const dom_geo_t *geo, uint8_t *seen, uint32_t *n_records, char *err, size_t errlen)
{
    const MMDB_s *m = &geo->mmdb;
    uint64_t nodes = m->metadata.node_count, data = m->data_section_size;
    size_t tree_size = (size_t)nodes * m->full_record_byte_size;

    for (size_t i = 0; i < 16; ++i) {
        if (m->file_content[tree_size + i] != 0) {
            snprintf(err, errlen,
                     "geo database \"%s\": no data section separator after the search tree: node_count (%u) in "
                     "the metadata is wrong, or the tree is corrupt",
                     geo->path, m->metadata.node_count);
            return DOM_EGEO;
        }
    }
    *n_records = 0;
    const uint32_t release_every = (1u << 20) / m->full_record_byte_size; /* about 1 MiB of tree */
    for (uint32_t node = 0; node < nodes; ++node) {
        uint32_t rec[2];
        if (node != 0 && node % release_every == 0)
            release_pages(m->file_content + (size_t)(node - release_every) * m->full_record_byte_size,
                          (size_t)release_every * m->full_record_byte_size);
        read_node(m, node, rec);
        for (int side = 0; side < 2; ++side) {
            uint64_t r = rec[side];
            if (r <= nodes)
                continue;
            if (r < nodes + 16 || r - nodes - 16 >= data) {
                snprintf(err, errlen,
                         "geo database \"%s\": search tree is corrupt: node %u points to %llu, outside the "
                         "tree (%llu nodes) and the %llu-byte data section",
                         geo->path, node, (unsigned long long)r, (unsigned long long)nodes, (unsigned long long)data);
                return DOM_EGEO;
            }
            uint64_t off = r - nodes - 16;
            if (!(seen[off / 8] & (1u << (off % 8)))) {
                seen[off / 8] |= (uint8_t)(1u << (off % 8));
                ++*n_records;
            }
        }
    }
    return 0;
}

/* libmaxminddb's find_ipv4_start_node: follow up to 96 left (zero) branches from the root. */
static void find_v4_start(dom_geo_t *geo)
{
    const MMDB_s *m = &geo->mmdb;
    uint32_t value = 0;
    unsigned bit;
    for (bit = 0; bit < 96; ++bit) {
        uint32_t rec[2];
        read_node(m, value, rec);
        value = rec[0];
        if (value >= m->metadata.node_count)
            break;
    }
    geo->v4_start = value;
    geo->v4_start_bit = bit;
}

static void corrupt_record(const dom_geo_t *geo, uint64_t off, int status, char *err, size_t errlen)
{
    snprintf(err, errlen,
             "geo database \"%s\": data section is corrupt: the record at offset %llu does not decode (%s)", geo->path,
             (unsigned long long)off, MMDB_strerror(status));
}

/* The next marked data offset at or after `off`, or UINT64_MAX. */
static uint64_t next_record(const uint8_t *seen, uint64_t off, uint64_t size)
{
    for (; off < size; ++off) {
        if (seen[off / 8] == 0) {
            off |= 7; /* skip a whole empty byte of the bitmap */
            continue;
        }
        if (seen[off / 8] & (1u << (off % 8)))
            return off;
    }
    return UINT64_MAX;
}

/*
 * Which shape do the records have? GeoIP2 wins when a record has a valid country.iso_code.
 * Returns 1 if detected, 0 if neither shape fits, DOM_EGEO on a record that does not decode.
 */
static int detect_shape(dom_geo_t *geo, const uint8_t *seen, dom_geo_shape_t *shape, char *err, size_t errlen)
{
    data_path_t geoip2, flat;
    char ignored[8];
    set_path(&geoip2, NULL, "country.iso_code", "", ignored, sizeof(ignored));
    set_path(&flat, NULL, "country_code", "", ignored, sizeof(ignored));
    int have_flat = 0, rc, found;
    uint32_t checked = 0;
    uint64_t size = geo->mmdb.data_section_size;
    for (uint64_t off = next_record(seen, 0, size); off != UINT64_MAX && checked < VERIFY_MAX_RECORDS;
         off = next_record(seen, off + 1, size), ++checked) {
        MMDB_entry_s entry = {.mmdb = &geo->mmdb, .offset = (uint32_t)off};
        MMDB_entry_data_s v;
        if ((rc = get_value(&entry, &geoip2, &v, &found)) != MMDB_SUCCESS) {
            corrupt_record(geo, off, rc, err, errlen);
            return DOM_EGEO;
        }
        if (found && v.type == MMDB_DATA_TYPE_UTF8_STRING && is_country(v.utf8_string, v.data_size)) {
            *shape = DOM_GEO_SHAPE_GEOIP2;
            return 1;
        }
        if (have_flat)
            continue;
        if ((rc = get_value(&entry, &flat, &v, &found)) != MMDB_SUCCESS) {
            corrupt_record(geo, off, rc, err, errlen);
            return DOM_EGEO;
        }
        have_flat = found && v.type == MMDB_DATA_TYPE_UTF8_STRING && is_country(v.utf8_string, v.data_size);
    }
    if (!have_flat)
        return 0;
    *shape = DOM_GEO_SHAPE_FLAT;
    return 1;
}

/*
 * The table for n records: a power of two at least 1.5 times n, so probes stay short. NULL past the
 * record cap (open does not decode them all) or when memory is short: lookups then decode per request.
 */
static record_slot_t *new_record_table(uint32_t n, uint32_t *mask)
{
    if (n > VERIFY_MAX_RECORDS)
        return NULL;
    size_t size = 16;
    while (size < (size_t)n + n / 2 + 1)
        size *= 2;
    record_slot_t *t = malloc(size * sizeof(*t));
    if (t == NULL)
        return NULL;
    for (size_t i = 0; i < size; ++i)
        t[i].offset = SLOT_FREE;
    *mask = (uint32_t)(size - 1);
    return t;
}

/*
 * Every distinct data record must decode with the configured paths, and some must give a country.
 * What each gives goes into the decoded-record table when all n_records of them are checked.
 */
static int check_records(dom_geo_t *geo, const uint8_t *seen, uint32_t n_records, char *err, size_t errlen)
{
    uint32_t checked = 0, with_country = 0, with_eu = 0;
    uint64_t size = geo->mmdb.data_section_size;
    geo->records = new_record_table(n_records, &geo->records_mask);
    for (uint64_t off = next_record(seen, 0, size); off != UINT64_MAX && checked < VERIFY_MAX_RECORDS;
         off = next_record(seen, off + 1, size), ++checked) {
        MMDB_entry_s entry = {.mmdb = &geo->mmdb, .offset = (uint32_t)off};
        dom_geo_result_t r;
        memset(&r, 0, sizeof(r));
        int eu_found = 0;
        int rc = read_record(geo, &entry, &r, &eu_found);
        with_eu += eu_found;
        if (rc != MMDB_SUCCESS) {
            corrupt_record(geo, off, rc, err, errlen);
            return DOM_EGEO;
        }
        with_country += r.country[0] != '\0';
        if (r.subdivision[0] != '\0' && r.country[0] >= 'A' && r.country[0] <= 'Z' && r.country[1] >= 'A' &&
            r.country[1] <= 'Z') {
            unsigned bit = (unsigned)(r.country[0] - 'A') * 26 + (unsigned)(r.country[1] - 'A');
            geo->subdivision_countries[bit / 8] |= (uint8_t)(1u << (bit % 8));
        }
        if (geo->records != NULL)
            put_record(geo, (uint32_t)off, &r);
    }
    if (checked != n_records) { /* cannot happen (the bitmap holds n_records marks); be safe, not fast */
        free(geo->records);
        geo->records = NULL;
    } else if (with_eu == 0) {
        geo->eu_flagged = 0; /* every record checked, none with the flag: derive it (a flat country_code database) */
    }
    geo->subdivisions_known = checked == n_records; /* else any country may have subdivisions */
    if (checked != 0 && with_country == 0) {
        snprintf(err, errlen,
                 "geo database \"%s\": no record has an ISO country code at \"%s\"; check the shape and data paths "
                 "(type \"%s\")",
                 geo->path, geo->country.text, geo->meta.database_type);
        return DOM_EGEO;
    }
    return 0;
}

/* Public addresses any full database covers; each must look up without an error. */
static int check_samples(dom_geo_t *geo, char *err, size_t errlen)
{
    static const char *const samples[] = {"8.8.8.8", "81.2.69.160", "2001:4860:4860::8888", "2a02:d280::1"};
    for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); ++i) {
        dom_addr_t a;
        memset(&a, 0, sizeof(a));
        a.family = strchr(samples[i], ':') != NULL ? AF_INET6 : AF_INET;
        inet_pton(a.family, samples[i], a.bytes);
        dom_geo_result_t r;
        memset(&r, 0, sizeof(r));
        int rc = lookup_db(geo, &a, &r);
        if (rc != MMDB_SUCCESS) {
            snprintf(err, errlen, "geo database \"%s\": looking up %s fails: %s", geo->path, samples[i],
                     MMDB_strerror(rc));
            return DOM_EGEO;
        }
    }
    return 0;
}

static void copy_printable(char *dst, size_t dstlen, const char *src)
{
    size_t n = 0;
    for (; src != NULL && *src != '\0' && n + 1 < dstlen; ++src)
        dst[n++] = (*src >= ' ' && *src < 0x7f) ? *src : '?';
    dst[n] = '\0';
}

/* check_data 0 skips the data-record checks: only the unit test does, to reach the lookup error path. */
static int check_database(dom_geo_t *geo, const dom_geo_options_t *opts, int check_data, char *err, size_t errlen)
{
    const MMDB_s *m = &geo->mmdb;
    int rc;
    uint8_t *seen = NULL;

    copy_printable(geo->meta.database_type, sizeof(geo->meta.database_type), m->metadata.database_type);
    geo->meta.build_epoch = m->metadata.build_epoch;
    geo->meta.node_count = m->metadata.node_count;
    geo->meta.ip_version = m->metadata.ip_version;
    if ((m->metadata.ip_version != 4 && m->metadata.ip_version != 6) || m->metadata.node_count == 0 ||
        (m->metadata.record_size != 24 && m->metadata.record_size != 28 && m->metadata.record_size != 32)) {
        snprintf(err, errlen, "geo database \"%s\": metadata is not sane (ip_version %u, record_size %u, %u nodes)",
                 geo->path, m->metadata.ip_version, m->metadata.record_size, m->metadata.node_count);
        rc = DOM_EGEO;
        goto cleanup;
    }

    if ((seen = calloc((size_t)m->data_section_size / 8 + 1, 1)) == NULL) {
        rc = DOM_ENOMEM;
        goto cleanup;
    }
    uint32_t n_records;
    if ((rc = check_tree(geo, seen, &n_records, err, errlen)) != 0)
        goto cleanup;

    dom_geo_shape_t shape = opts->shape;
    if (shape != DOM_GEO_SHAPE_GEOIP2 && shape != DOM_GEO_SHAPE_FLAT) {
        if ((rc = detect_shape(geo, seen, &shape, err, errlen)) < 0)
            goto cleanup;
        if (rc == 0) {
            if (opts->country_path == NULL) {
                snprintf(err, errlen,
                         "geo database \"%s\" (type \"%s\"): no record has a country code at country.iso_code "
                         "(GeoIP2 shape) or country_code (flat shape); set the shape and data paths",
                         geo->path, geo->meta.database_type);
                rc = DOM_EGEO;
                goto cleanup;
            }
            shape = DOM_GEO_SHAPE_FLAT; /* custom country path: no defaults for the rest */
        }
    }
    geo->meta.shape = shape;
    if ((rc = set_paths(geo, opts, shape, err, errlen)) != 0)
        goto cleanup;
    geo->eu_flagged = geo->eu.enabled; /* until the records say otherwise */
    find_v4_start(geo);
    if (check_data && (rc = check_records(geo, seen, n_records, err, errlen)) != 0)
        goto cleanup;
    if (check_data && (rc = check_samples(geo, err, errlen)) != 0)
        goto cleanup;
    rc = 0;

cleanup:
    free(seen);
    return rc;
}

/* dom_geo_open(), with the data-record checks (check_data 1) or without them (0: the unit test only). */
static int open_database(const char *path, const dom_geo_options_t *opts, int check_data, dom_geo_t **out, char *err,
                         size_t errlen)
{
    static const dom_geo_options_t defaults;
    char dummy[1];
    dom_geo_t *geo = NULL;
    int rc;

    if (err == NULL || errlen == 0) {
        err = dummy;
        errlen = sizeof(dummy);
    }
    err[0] = '\0';
    if (out == NULL)
        return DOM_EINVAL;
    *out = NULL;
    if (opts == NULL)
        opts = &defaults;
    if (path == NULL || path[0] == '\0') {
        snprintf(err, errlen, "geo database path is empty");
        return DOM_EINVAL;
    }
    if ((geo = geo_new()) == NULL || (geo->path = strdup(path)) == NULL) {
        rc = DOM_ENOMEM;
        goto cleanup;
    }
    /* Check the paths before the (possibly slow) database checks, so a typo fails fast. */
    if ((rc = set_paths(geo, opts, DOM_GEO_SHAPE_GEOIP2, err, errlen)) != 0 ||
        (rc = copy_overrides(geo, opts, err, errlen)) != 0)
        goto cleanup;

    struct stat st;
    if (stat(path, &st) != 0) {
        snprintf(err, errlen, "geo database \"%s\": %s", path, strerror(errno));
        rc = DOM_EGEO;
        goto cleanup;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "geo database \"%s\": not a regular file", path);
        rc = DOM_EGEO;
        goto cleanup;
    }
    if (st.st_size == 0) {
        snprintf(err, errlen, "geo database \"%s\": file is empty", path);
        rc = DOM_EGEO;
        goto cleanup;
    }
    errno = 0;
    int status = MMDB_open(path, MMDB_MODE_MMAP, &geo->mmdb);
    if (status != MMDB_SUCCESS) {
        explain_open_error(path, status, errno, st.st_size, err, errlen);
        rc = status == MMDB_OUT_OF_MEMORY_ERROR ? DOM_ENOMEM : DOM_EGEO;
        goto cleanup;
    }
    geo->has_db = 1;
    if ((rc = check_database(geo, opts, check_data, err, errlen)) != 0)
        goto cleanup;
    /*
     * Which file this is, whatever its name: replicas of a fleet compare it (/status, metrics, audit). Hashed a
     * megabyte at a time, each given back at once, so hashing a large database does not raise the peak RSS.
     */
    unsigned char digest[SHA256_DIGEST_LENGTH];
    EVP_MD_CTX *sha = EVP_MD_CTX_new();
    int hashed = sha != NULL && EVP_DigestInit_ex(sha, EVP_sha256(), NULL) == 1;
    for (size_t off = 0, size = (size_t)geo->mmdb.file_size; hashed && off < size;) {
        size_t n = size - off < (1u << 20) ? size - off : (1u << 20);
        hashed = EVP_DigestUpdate(sha, geo->mmdb.file_content + off, n) == 1;
        release_pages(geo->mmdb.file_content + off, n);
        off += n;
    }
    hashed = hashed && EVP_DigestFinal_ex(sha, digest, NULL) == 1;
    EVP_MD_CTX_free(sha);
    if (!hashed) {
        rc = DOM_ENOMEM;
        goto cleanup;
    }
    for (size_t i = 0; i < sizeof(digest); ++i)
        snprintf(geo->meta.sha256 + 2 * i, 3, "%02x", digest[i]);
    geo->meta.opened_at = (int64_t)time(NULL);
    /* The check touched every page of the file: keep only what lookups touch. */
    release_pages(geo->mmdb.file_content, geo->mmdb.file_size);
    *out = geo;
    return 0;

cleanup:
    if (geo != NULL)
        geo_free(geo);
    if (err[0] == '\0' && errlen > 1)
        snprintf(err, errlen, "geo database \"%s\": %s", path != NULL ? path : "", dom_strerror(rc));
    return rc;
}

int dom_geo_open(const char *path, const dom_geo_options_t *opts, dom_geo_t **out, char *err, size_t errlen)
{
    return open_database(path, opts, 1, out, err, errlen);
}

int dom_geo_open_none(const dom_geo_options_t *opts, dom_geo_t **out)
{
    static const dom_geo_options_t defaults;
    char err[256];
    int rc;
    if (out == NULL)
        return DOM_EINVAL;
    *out = NULL;
    if (opts == NULL)
        opts = &defaults;
    dom_geo_t *geo = geo_new();
    if (geo == NULL || (geo->path = strdup("")) == NULL) {
        rc = DOM_ENOMEM;
        goto cleanup;
    }
    if ((rc = copy_overrides(geo, opts, err, sizeof(err))) != 0)
        goto cleanup;
    *out = geo;
    return 0;

cleanup:
    if (geo != NULL)
        geo_free(geo);
    return rc;
}

void dom_geo_retain(dom_geo_t *geo)
{
    if (geo != NULL)
        atomic_fetch_add_explicit(&geo->refs, 1, memory_order_relaxed);
}

void dom_geo_release(dom_geo_t *geo)
{
    /* acq_rel: the last releaser must see every other holder's work before it frees. */
    if (geo != NULL && atomic_fetch_sub_explicit(&geo->refs, 1, memory_order_acq_rel) == 1)
        geo_free(geo);
}

const dom_geo_metadata_t *dom_geo_metadata(const dom_geo_t *geo)
{
    static const dom_geo_metadata_t none;
    return geo != NULL ? &geo->meta : &none;
}

uint64_t dom_geo_error_count(const dom_geo_t *geo)
{
    return geo != NULL ? atomic_load_explicit(&geo->errors, memory_order_relaxed) : 0;
}

const char *dom_geo_path(const dom_geo_t *geo)
{
    return geo != NULL && geo->path != NULL ? geo->path : "";
}

int dom_geo_each_location(const dom_geo_t *geo, void (*fn)(void *ctx, const char *country, const char *subdivision),
                          void *ctx)
{
    if (geo == NULL || !geo->has_db || geo->records == NULL)
        return DOM_ENOTFOUND;
    for (uint64_t i = 0; i <= geo->records_mask; ++i) {
        const record_slot_t *slot = &geo->records[i];
        if (slot->offset == SLOT_FREE || slot->country[0] == '\0')
            continue;
        char country[3] = {slot->country[0], slot->country[1], '\0'}, subdivision[7] = "";
        if (slot->subdivision[0] != '\0')
            snprintf(subdivision, sizeof(subdivision), "%.2s-%.3s", slot->country, slot->subdivision);
        fn(ctx, country, subdivision);
    }
    return 0;
}

const char *dom_geo_source_name(dom_geo_source_t source)
{
    switch (source) {
    case DOM_GEO_NONE:
        return "none";
    case DOM_GEO_DATABASE:
        return "database";
    case DOM_GEO_SPECIAL:
        return "special";
    case DOM_GEO_OVERRIDE:
        return "override";
    case DOM_GEO_ERROR:
        return "error";
    }
    return "unknown";
}

const char *dom_geo_shape_name(dom_geo_shape_t shape)
{
    switch (shape) {
    case DOM_GEO_SHAPE_AUTO:
        return "auto";
    case DOM_GEO_SHAPE_GEOIP2:
        return "geoip2";
    case DOM_GEO_SHAPE_FLAT:
        return "flat";
    }
    return "unknown";
}

int dom_geo_resolves_subdivision(const dom_geo_t *geo, const char *code)
{
    size_t len = code != NULL ? strlen(code) : 0;
    if (geo == NULL || len < 4 || len > 6 || code[2] != '-')
        return 0;
    for (size_t i = 0; i < geo->n_overrides; ++i)
        if (strcmp(geo->overrides[i].subdivision, code) == 0)
            return 1;
    if (!geo->has_db || !geo->subdivision.enabled)
        return 0;
    if (geo->records == NULL)
        return -1;
    char part[3] = {0};
    memcpy(part, code + 3, len - 3);
    for (uint32_t i = 0; i <= geo->records_mask; ++i) {
        const record_slot_t *slot = &geo->records[i];
        if (slot->offset != SLOT_FREE && memcmp(slot->country, code, 2) == 0 && memcmp(slot->subdivision, part, 3) == 0)
            return 1;
    }
    return 0;
}

int dom_geo_has_subdivisions(const dom_geo_t *geo, const char *country)
{
    if (geo == NULL || !geo->has_db || country == NULL || country[0] < 'A' || country[0] > 'Z' || country[1] < 'A' ||
        country[1] > 'Z')
        return 0;
    if (!geo->subdivisions_known)
        return 1;
    unsigned bit = (unsigned)(country[0] - 'A') * 26 + (unsigned)(country[1] - 'A');
    return (geo->subdivision_countries[bit / 8] >> (bit % 8)) & 1;
}

/*
 * Step 2 of the request path: where is the client? libmaxminddb lookups by address,
 * configurable data paths, special-purpose ranges as unknown, operator overrides.
 * A dom_geo_t is refcounted so a reload can swap it while requests still hold the old one.
 */
#ifndef DOMICILE_GEO_H
#define DOMICILE_GEO_H

#include <stdint.h>
#include "domicile/clientip.h"

typedef enum dom_geo_shape {
    DOM_GEO_SHAPE_AUTO = 0, /* detect from metadata/sample record: GeoIP2 if it has country.iso_code, else flat */
    DOM_GEO_SHAPE_GEOIP2,   /* country.iso_code, subdivisions.0.iso_code, country.is_in_european_union */
    DOM_GEO_SHAPE_FLAT,     /* country_code (e.g. geo-whois-asn-country, ip-location-db) */
} dom_geo_shape_t;

/** An operator override: a network mapped to a country or straight to a jurisdiction. */
typedef struct dom_geo_override {
    dom_cidr_t cidr;
    char country[3];                     /* "" if this override names a jurisdiction */
    char subdivision[8];                 /* optional, e.g. "US-CA" */
    char jurisdiction[DOM_NAME_MAX + 1]; /* "" if this override names a country */
} dom_geo_override_t;

/** How to open and read a geo database. Zero-initialised means GeoIP2 defaults, auto shape. */
typedef struct dom_geo_options {
    dom_geo_shape_t shape;
    /* Data paths, dot-separated ("country.iso_code", "subdivisions.0.iso_code"); NULL = default of the shape.
     * "" turns the subdivision or EU path off (the country path is required). Defaults: GeoIP2 as above;
     * flat: country_code, no subdivision, no EU flag. */
    const char *country_path;
    const char *subdivision_path;
    const char *eu_path;
    /* Overrides, copied at open; longest prefix wins. */
    const dom_geo_override_t *overrides;
    size_t n_overrides;
} dom_geo_options_t;

typedef enum dom_geo_source {
    DOM_GEO_NONE = 0, /* unknown location: not in the database, no database, or a decode error */
    DOM_GEO_DATABASE, /* found in the database */
    DOM_GEO_SPECIAL,  /* special-purpose range (loopback, RFC 1918, CGNAT, ...): unknown whatever the db says */
    DOM_GEO_OVERRIDE, /* an operator override matched */
    DOM_GEO_ERROR,    /* lookup or decode error (counted); location unknown */
} dom_geo_source_t;

/** Result of a lookup. All strings are copied into the struct (no pointers into mmdb memory). */
typedef struct dom_geo_result {
    dom_geo_source_t source;
    char country[3];     /* ISO 3166-1 alpha-2, "" when unknown */
    char subdivision[8]; /* ISO 3166-2 with country prefix ("US-CA"), "" when unknown */
    int in_eu;           /* in the EU: the database's flag, or the EU-27 list (in_eu_derived) */
    int in_eu_derived;   /* 1: the database carries no EU flag (or an override gave the country): in_eu is derived from
                            the EU-27 member list of the project's ISO 3166 table */
    char jurisdiction[DOM_NAME_MAX + 1]; /* set only by a CIDR -> jurisdiction override */
} dom_geo_result_t;

/** Metadata of the open database, for reporting. */
typedef struct dom_geo_metadata {
    char database_type[64];
    uint64_t build_epoch;
    uint32_t node_count;
    uint16_t ip_version;
    dom_geo_shape_t shape; /* the shape in use (after detection) */
    char sha256[65];       /* SHA-256 of the file's bytes as opened, lower-case hex ("" without a database) */
    int64_t opened_at;     /* unix seconds when this handle was opened and checked (0 without a database) */
} dom_geo_metadata_t;

typedef struct dom_geo dom_geo_t;

/**
 * Opens an mmdb file and checks it: metadata sane, every search-tree record points to a node,
 * "empty" or into the data section, every distinct data record decodes with the configured
 * paths and at least one gives a country, sample lookups (IPv4 and IPv6 public addresses) work.
 * DOM_GEO_SHAPE_AUTO picks GeoIP2 if a record has country.iso_code, else flat if one has
 * country_code. Takes about 0.1 s for a 1M-network database. On failure *out is NULL and
 * `err` (may be NULL) says why, naming the file. The returned handle has one reference.
 * Errors: DOM_EGEO, DOM_ENOMEM, DOM_EINVAL (bad paths or overrides).
 */
int dom_geo_open(const char *path, const dom_geo_options_t *opts, dom_geo_t **out, char *err, size_t errlen);

/**
 * A geo handle with no database: every lookup is unknown, but overrides and
 * special ranges still apply. For running without a database (fail closed).
 * Errors: DOM_ENOMEM, DOM_EINVAL (bad overrides).
 */
int dom_geo_open_none(const dom_geo_options_t *opts, dom_geo_t **out);

/** Adds a reference (thread-safe). */
void dom_geo_retain(dom_geo_t *geo);
/** Drops a reference; the last one closes the database. NULL is safe. */
void dom_geo_release(dom_geo_t *geo);

/**
 * Looks up an address: override (longest prefix) → special-purpose range (unknown) →
 * database. Never fails: errors give source DOM_GEO_ERROR and are counted. Thread-safe,
 * no allocation. A record whose country is not [A-Z]{2} gives DOM_GEO_NONE; a subdivision
 * that is not [A-Z0-9]{1,3} is dropped. IPv4-mapped IPv6 is looked up as IPv4.
 */
void dom_geo_lookup(dom_geo_t *geo, const dom_addr_t *addr, dom_geo_result_t *out);

/** Metadata of the database (zeroed for dom_geo_open_none). */
const dom_geo_metadata_t *dom_geo_metadata(const dom_geo_t *geo);

/**
 * Returns 1 if some record of the database gives a subdivision in `country` (ISO 3166-1 alpha-2), so that
 * subdivision rules can apply there; 0 if none does (a country-only database, or the subdivision path turned
 * off), or without a database. When open could not check every record it answers 1 for every country.
 */
int dom_geo_has_subdivisions(const dom_geo_t *geo, const char *country);

/** Number of lookup/decode errors seen on this handle. */
uint64_t dom_geo_error_count(const dom_geo_t *geo);

/** The file the handle was opened from ("" for none). */
const char *dom_geo_path(const dom_geo_t *geo);

/**
 * Calls fn once for every data record of the database, with the country ("DE") and subdivision
 * ("US-CA"; "" none) a lookup reads from it, so a report can say which countries and
 * subdivisions the database can place a client in. Records without a usable country are
 * skipped. Returns 0, or DOM_ENOTFOUND when the handle has no database or open did not decode
 * every record (then fn is never called).
 */
int dom_geo_each_location(const dom_geo_t *geo, void (*fn)(void *ctx, const char *country, const char *subdivision),
                          void *ctx);

/**
 * Returns 1 for special-purpose addresses (IANA special-purpose registries: this-network,
 * loopback, RFC 1918, CGNAT 100.64/10, link-local, documentation, benchmarking, multicast,
 * reserved, broadcast, ULA fc00::/7, fe80::/10, 2001:db8::/32, ::/128, ::1, 64:ff9b:1::/48,
 * Teredo/ORCHID etc.). Their location is unknown whatever a database says.
 */
int dom_addr_is_special(const dom_addr_t *addr);

/**
 * Whether a lookup can ever give the subdivision `code` ("US-CA"): 1 if an override names it or a
 * record of the database holds it, 0 if none does (a country-only database, the subdivision path
 * turned off, no database), -1 when it cannot be told (the database was too large to decode every
 * record at open). For `rules check --geo-db` and `serve --check`: a rule for a subdivision the
 * database never gives can never match.
 */
int dom_geo_resolves_subdivision(const dom_geo_t *geo, const char *code);

/** Human name of a source ("database", "special", ...). */
const char *dom_geo_source_name(dom_geo_source_t source);

/** Where a result's in_eu came from: "database" (the database's EU flag) or "derived" (the EU-27 list). */
const char *dom_geo_in_eu_source_name(const dom_geo_result_t *r);

/** Human name of a shape ("auto", "geoip2", "flat"). */
const char *dom_geo_shape_name(dom_geo_shape_t shape);

#endif

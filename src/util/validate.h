/*
 * The validators of names and codes that rule files, the gateway config, pins and the CLI
 * share: one definition each of a jurisdiction name, an ISO 3166 country and subdivision
 * code, and an HTTP token (header names, methods).
 */
#ifndef DOM_UTIL_VALIDATE_H
#define DOM_UTIL_VALIDATE_H

#include <stddef.h>
#include <stdint.h>
#include "domicile/common.h"

/** 1 if s (len bytes) is 1 to max characters of [A-Za-z0-9_-]: cluster names, pin key ids. */
int dom__valid_name(const char *s, size_t len, size_t max);

/** 1 if s is a jurisdiction name: 1 to DOM_NAME_MAX characters of [A-Za-z0-9_-] ("EU-GDPR"). */
static inline int dom__valid_jurisdiction(const char *s, size_t len)
{
    return dom__valid_name(s, len, DOM_NAME_MAX);
}

/** RFC 9110 tchar ("!#$%&'*+-.^_`|~", digits, letters) as a table: 1 or 0 per byte. */
extern const uint8_t dom__tchar[256];

/** 1 if c is an RFC 9110 tchar. */
static inline int dom__is_tchar(char c)
{
    return dom__tchar[(unsigned char)c];
}

/** 1 if s is an RFC 9110 token (one or more tchar): an HTTP method or header name. */
int dom__valid_http_token(const char *s, size_t len);

/** 1 if s (len bytes) is an assigned ISO 3166-1 alpha-2 code, upper case (plus XK, Kosovo, as geo databases use it). */
int dom__iso_country_known(const char *s, size_t len);

/** 1 if s (len bytes) is one of the 27 EU member states (ISO 3166-1 alpha-2; Greece is GR, not EL). */
int dom__iso_country_in_eu(const char *s, size_t len);

/** Number of EU member states in the table (27; for tests). */
size_t dom__iso_eu_member_count(void);

/** What dom__iso_subdivision_check found. */
typedef enum dom__iso_sub {
    DOM__ISO_SUB_OK = 0,      /* a known subdivision */
    DOM__ISO_SUB_NO_TABLE,    /* well formed, the country is known, but no ISO 3166-2 table is carried for it */
    DOM__ISO_SUB_UNKNOWN,     /* the country has a table and the code is not in it */
    DOM__ISO_SUB_BAD_COUNTRY, /* the country part is not an ISO 3166-1 code */
    DOM__ISO_SUB_MALFORMED,   /* not CC-XXX with XXX in [A-Z0-9]{1,3} */
} dom__iso_sub_t;

/** Checks an ISO 3166-2 code with its country prefix ("US-CA"). */
dom__iso_sub_t dom__iso_subdivision_check(const char *s, size_t len);

/** Number of countries in the table (for tests). */
size_t dom__iso_country_count(void);

/** The i-th country of the table (alphabetical, XK last) into out; -1 past the end. For `rules plan`'s grid. */
int dom__iso_country_at(size_t i, char out[3]);

/**
 * The ISO 3166-1 alpha-2 code someone most likely meant by s (len bytes) when s is not one: an alpha-3
 * code ("CHE": CH), a code ISO reserves for another use ("UK": GB, "EL": GR), or lower case ("de": DE).
 * Writes it into out and returns out, or NULL when there is no such guess.
 */
const char *dom__iso_country_suggest(const char *s, size_t len, char out[3]);

#endif

/* ISO 3166-1 alpha-2 countries and ISO 3166-2 subdivisions, for `rules check`. */
#ifndef DOM_ISO3166_H
#define DOM_ISO3166_H

#include <stddef.h>

typedef enum dom__iso_sub {
    DOM__ISO_SUB_OK = 0,      /* a known subdivision */
    DOM__ISO_SUB_NO_TABLE,    /* syntactically fine, country known, but we carry no table for it */
    DOM__ISO_SUB_UNKNOWN,     /* the country has a table and the code is not in it */
    DOM__ISO_SUB_BAD_COUNTRY, /* the country part is not an ISO 3166-1 code */
    DOM__ISO_SUB_MALFORMED,   /* not CC-XXX with XXX in [A-Z0-9]{1,3} */
} dom__iso_sub_t;

/** 1 if s (len bytes) is an assigned ISO 3166-1 alpha-2 code (plus XK, Kosovo, as geo databases use it). */
int dom__iso_country_known(const char *s, size_t len);
/** Checks "CC-XXX". */
dom__iso_sub_t dom__iso_subdivision_check(const char *s, size_t len);
/** Number of countries in the table (for tests). */
size_t dom__iso_country_count(void);

#endif

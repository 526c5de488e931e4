/*
 * Error codes shared by every module of the decision core. Functions return 0 on
 * success and one of the negative codes below on failure; dom_strerror() names each.
 */
#ifndef DOMICILE_COMMON_H
#define DOMICILE_COMMON_H

#include <stddef.h>
#include <stdint.h>

enum {
    DOM_OK = 0,
    DOM_ENOMEM = -1,            /* out of memory */
    DOM_EINVAL = -2,            /* malformed input (address, header, value) */
    DOM_EIO = -3,               /* a file could not be read or written */
    DOM_ENOTFOUND = -4,         /* looked-up item does not exist */
    DOM_ECORRUPT = -5,          /* a database (mmdb, LMDB) is corrupt or not ours */
    DOM_ERANGE = -6,            /* a value or output does not fit */
    DOM_EPIN_MALFORMED = -10,   /* pin token does not parse */
    DOM_EPIN_UNKNOWN_KEY = -11, /* pin names a key id we do not hold */
    DOM_EPIN_BAD_SIGNATURE = -12,
    DOM_EPIN_EXPIRED = -13,
    DOM_ECONSENT_MALFORMED = -15,   /* consent token does not parse */
    DOM_ECONSENT_UNKNOWN_KEY = -16, /* consent token names a key id we do not hold */
    DOM_ECONSENT_BAD_SIGNATURE = -17,
    DOM_ECONSENT_EXPIRED = -18,
    DOM_ECONSENT_REVOKED = -19, /* genuine and unexpired, but on the revocation list */
    DOM_ERULES = -20,           /* rule files have errors (printed as file:line:col: message) */
    DOM_ELMDB = -21,            /* LMDB call failed */
    DOM_EGEO = -30,             /* geo database cannot be opened or fails its checks */
    DOM_ECONFIG = -40,          /* gateway configuration has errors */
};

/** Returns a short constant description of an error code (never NULL). */
const char *dom_strerror(int err);

/** Value of one hex digit (either case), or -1. Shared by the parsers (addresses, key files, paths). */
static inline int dom__hex_digit(int c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/** Max length of a jurisdiction name, rule version, class or region name (without NUL). */
#define DOM_NAME_MAX 63
/** Max number of regions a class rule can list. */
#define DOM_MAX_REGIONS 16

#endif

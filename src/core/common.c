#include "domicile/common.h"

const char *dom_strerror(int err)
{
    switch (err) {
    case DOM_OK:
        return "success";
    case DOM_ENOMEM:
        return "out of memory";
    case DOM_EINVAL:
        return "malformed input";
    case DOM_EIO:
        return "input/output error";
    case DOM_ENOTFOUND:
        return "not found";
    case DOM_ECORRUPT:
        return "database is corrupt or not a domicile database";
    case DOM_ERANGE:
        return "value out of range";
    case DOM_EPIN_MALFORMED:
        return "pin is malformed";
    case DOM_EPIN_UNKNOWN_KEY:
        return "pin is signed with an unknown key";
    case DOM_EPIN_BAD_SIGNATURE:
        return "pin signature does not verify";
    case DOM_EPIN_EXPIRED:
        return "pin has expired";
    case DOM_ECONSENT_MALFORMED:
        return "consent token is malformed";
    case DOM_ECONSENT_UNKNOWN_KEY:
        return "consent token is signed with an unknown key";
    case DOM_ECONSENT_BAD_SIGNATURE:
        return "consent token signature does not verify";
    case DOM_ECONSENT_EXPIRED:
        return "consent token has expired";
    case DOM_ECONSENT_REVOKED:
        return "consent token has been revoked";
    case DOM_ERULES:
        return "rule files have errors";
    case DOM_ELMDB:
        return "LMDB error";
    case DOM_EGEO:
        return "geo database cannot be used";
    case DOM_ECONFIG:
        return "configuration has errors";
    default:
        return "unknown error";
    }
}

/*
 * The one rule-record codec (docs/internals/rules.md): the text of every enum the rules
 * use, the tables and keys of a compiled rules file, and each record's fields. Each
 * record type is one table of fields below; the compiler's encoder and the store's
 * decoder both walk it, so a name, a range or a text exists once.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "rules_record_internal.h"

/* ---- enum <-> text ---- */

typedef struct text {
    const char *s;
    size_t len;
} text_t;
#define T(LITERAL)                                                                                                     \
    {                                                                                                                  \
        LITERAL, sizeof(LITERAL) - 1                                                                                   \
    }
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static const text_t mode_names[] = {[DOM_MODE_ENFORCE] = T("enforce"), [DOM_MODE_REPORT] = T("report")};
static const text_t on_unavailable_names[] = {
    [DOM_ON_UNAVAILABLE_REJECT] = T("reject"), [DOM_ON_UNAVAILABLE_NEXT_REGION] = T("next_region")};
static const text_t consent_names[] = {T("none"), T("required")};
static const text_t access_names[] = {[DOM_ACCESS_READ] = T("read"), [DOM_ACCESS_WRITE] = T("write")};
static const text_t level_names[] = {
    [DOM_LEVEL_SUBDIVISION] = T("subdivision"), [DOM_LEVEL_COUNTRY] = T("country"), [DOM_LEVEL_GROUP] = T("group")};
/* Indexed by bit number: DOM_METHOD_GET is 1 << 0 ... DOM_METHOD_OTHER is 1 << 7. The last is not a method: it
 * stands for every method not named before it. */
static const text_t method_names[] = {T("GET"),   T("HEAD"),   T("POST"),    T("PUT"),
                                      T("PATCH"), T("DELETE"), T("OPTIONS"), T("OTHER")};
static const text_t methods_all = T("ALL");

static const char *name_of(const text_t *names, size_t n, unsigned v)
{
    return v < n && names[v].s != NULL ? names[v].s : "?";
}

static int is_text(const char *s, size_t len, const text_t *t)
{
    return s != NULL && len == t->len && memcmp(s, t->s, len) == 0;
}

/* The index whose name is s[0..len), or -1. */
static int index_of(const text_t *names, size_t n, const char *s, size_t len)
{
    for (size_t i = 0; i < n; ++i)
        if (names[i].s != NULL && is_text(s, len, &names[i]))
            return (int)i;
    return -1;
}

/* The name and the parse function of an enum whose values index NAMES (each function's whole name is in its
 * ENUM_TEXT line below, so a search finds it). */
#define ENUM_TEXT(NAME_FN, PARSE_FN, TYPE, NAMES)                                                                      \
    const char *NAME_FN(TYPE v)                                                                                        \
    {                                                                                                                  \
        return name_of(NAMES, COUNT(NAMES), (unsigned)v);                                                              \
    }                                                                                                                  \
    int PARSE_FN(const char *s, size_t len, TYPE *out)                                                                 \
    {                                                                                                                  \
        int i = index_of(NAMES, COUNT(NAMES), s, len);                                                                 \
        if (i < 0)                                                                                                     \
            return DOM_EINVAL;                                                                                         \
        *out = (TYPE)i;                                                                                                \
        return 0;                                                                                                      \
    }

ENUM_TEXT(dom_rule_mode_name, dom_rule_mode_parse, dom_rule_mode_t, mode_names)
ENUM_TEXT(dom_on_unavailable_name, dom_on_unavailable_parse, dom_on_unavailable_t, on_unavailable_names)
ENUM_TEXT(dom_access_name, dom_access_parse, dom_access_t, access_names)
ENUM_TEXT(dom_rules_level_name, dom_rules_level_parse, dom_rules_level_t, level_names)

/* Consent is an int flag: any non-zero value is "required". */
const char *dom_consent_name(int required)
{
    return consent_names[required != 0].s;
}

int dom_consent_parse(const char *s, size_t len, int *required)
{
    int i = index_of(consent_names, COUNT(consent_names), s, len);
    if (i < 0)
        return DOM_EINVAL;
    *required = i;
    return 0;
}

const char *dom_method_name(unsigned bit)
{
    if (bit == 0 || (bit & (bit - 1)) != 0)
        return "?";
    return name_of(method_names, COUNT(method_names), (unsigned)__builtin_ctz(bit));
}

unsigned dom_method_bit(const char *method, size_t len)
{
    /* Per request (classify): the length rules out all but one or two names before any byte compare. */
    for (unsigned i = 0; i + 1 < COUNT(method_names); ++i)
        if (is_text(method, len, &method_names[i]))
            return 1u << i;
    return DOM_METHOD_OTHER;
}

int dom_methods_format(unsigned mask, char *out, size_t len)
{
    if (len == 0)
        return DOM_ERANGE;
    out[0] = '\0';
    if ((mask & DOM_METHOD_ALL) == DOM_METHOD_ALL) {
        if (len <= methods_all.len)
            return DOM_ERANGE;
        memcpy(out, methods_all.s, methods_all.len + 1);
        return 0;
    }
    size_t off = 0;
    for (unsigned i = 0; i < COUNT(method_names); ++i) {
        if ((mask & (1u << i)) == 0)
            continue;
        const text_t *m = &method_names[i];
        if (off + (off != 0) + m->len >= len) {
            out[0] = '\0';
            return DOM_ERANGE;
        }
        if (off != 0)
            out[off++] = ',';
        memcpy(out + off, m->s, m->len + 1);
        off += m->len;
    }
    return 0;
}

int dom_methods_parse(const char *s, size_t len, unsigned *mask)
{
    if (is_text(s, len, &methods_all)) {
        *mask = DOM_METHOD_ALL;
        return 0;
    }
    if (s == NULL || len == 0)
        return DOM_EINVAL;
    unsigned m = 0;
    for (size_t start = 0; start <= len;) {
        const char *comma = memchr(s + start, ',', len - start);
        size_t n = comma != NULL ? (size_t)(comma - (s + start)) : len - start;
        int i = index_of(method_names, COUNT(method_names), s + start, n);
        if (i < 0)
            return DOM_EINVAL;
        m |= 1u << i;
        start += n + 1;
    }
    *mask = m;
    return 0;
}

/* ---- tables and keys ---- */

static const text_t table_names[] = {
    [DOM__TABLE_META] = T("meta"),
    [DOM__TABLE_REGIONS] = T("regions"),
    [DOM__TABLE_CLASSES] = T("classes"),
    [DOM__TABLE_ROUTES] = T("routes"),
    [DOM__TABLE_JURISDICTIONS] = T("jurisdictions"),
    [DOM__TABLE_CLASS_RULES] = T("class_rules"),
    [DOM__TABLE_CLAIMS] = T("claims"),
};
static const text_t meta_keys[] = {
    [DOM__META_FORMAT] = T("format"),
    [DOM__META_GENERATION] = T("generation"),
    [DOM__META_SOURCE_HASH] = T("source_hash"),
    [DOM__META_COMPILED_AT] = T("compiled_at"),
    [DOM__META_DEFAULT_CLASS] = T("default_class"),
    [DOM__META_READ_METHODS] = T("read_methods"),
};

const char *dom__rules_table_name(dom__rules_table_t table)
{
    return name_of(table_names, COUNT(table_names), (unsigned)table);
}

const char *dom__rules_meta_key(dom__rules_meta_t key)
{
    return name_of(meta_keys, COUNT(meta_keys), (unsigned)key);
}

static size_t key_length(int n)
{
    return n < 0 ? 0 : (size_t)n < DOM__RECORD_KEY_MAX ? (size_t)n : DOM__RECORD_KEY_MAX - 1;
}

size_t dom__record_key(char out[DOM__RECORD_KEY_MAX], size_t index)
{
    return key_length(snprintf(out, DOM__RECORD_KEY_MAX, "%08zu", index));
}

size_t dom__class_rule_key(char out[DOM__RECORD_KEY_MAX], size_t jurisdiction, const char *class_name)
{
    return key_length(snprintf(out, DOM__RECORD_KEY_MAX, "%08zu/%s", jurisdiction, class_name));
}

/* ---- the fields of each record ---- */

typedef enum field_kind {
    F_TEXT,           /* const char *, at most max bytes ("" for NULL) */
    F_PREFIX,         /* const char * path prefix ("/..."), its length at count_at */
    F_REASON,         /* a dom_class_rule_t's deny_reason: written only with deny, read as "class_denied" if empty */
    F_NAME,           /* const char *, 1..DOM_NAME_MAX bytes */
    F_BOOL,           /* int, 0 or 1 */
    F_TIME,           /* int64_t unix seconds, year 1970..9999 */
    F_DATE,           /* the F_TIME at the same offset as YYYY-MM-DD: informative, written, never read */
    F_MODE,           /* dom_rule_mode_t */
    F_ON_UNAVAILABLE, /* dom_on_unavailable_t */
    F_CONSENT,        /* int consent_required */
    F_LEVEL,          /* dom_rules_level_t */
    F_METHODS,        /* unsigned DOM_METHOD_* mask */
    F_CLASS,          /* size_t index into rs->classes, by name */
    F_REGIONS,        /* uint16_t[DOM_MAX_REGIONS] indices into rs->regions, by name, count at count_at */
    F_CLAIM_KEY,      /* char[8], 1..7 bytes */
    F_JURISDICTION,   /* size_t index into rs->jurisdictions */
} field_kind_t;

typedef struct field {
    const char *name;
    field_kind_t kind;
    size_t at;       /* offsetof the member */
    size_t count_at; /* F_REGIONS, F_PREFIX: offsetof the count, the length */
    size_t max;      /* F_TEXT: the longest value */
} field_t;

#define TEXT_MAX 4096
#define FIELD(T, NAME, KIND, MEMBER, MAX)                                                                              \
    {                                                                                                                  \
        NAME, KIND, offsetof(T, MEMBER), 0, MAX                                                                        \
    }
#define COUNTED(T, NAME, KIND, MEMBER, COUNT_MEMBER)                                                                   \
    {                                                                                                                  \
        NAME, KIND, offsetof(T, MEMBER), offsetof(T, COUNT_MEMBER), 0                                                  \
    }

static const field_t region_fields[] = {
    FIELD(dom_region_t, "name", F_NAME, name, 0),
    FIELD(dom_region_t, "location", F_TEXT, location, 2),
    FIELD(dom_region_t, "description", F_TEXT, description, TEXT_MAX),
};

static const field_t class_fields[] = {
    FIELD(dom_data_class_t, "name", F_NAME, name, 0),
    FIELD(dom_data_class_t, "description", F_TEXT, description, TEXT_MAX),
    FIELD(dom_data_class_t, "personal", F_BOOL, personal, 0),
};

static const field_t route_fields[] = {
    COUNTED(dom_route_rule_t, "prefix", F_PREFIX, prefix, prefix_len),
    FIELD(dom_route_rule_t, "methods", F_METHODS, methods, 0),
    FIELD(dom_route_rule_t, "class", F_CLASS, class_index, 0),
};

static const field_t jurisdiction_fields[] = {
    FIELD(dom_jurisdiction_t, "name", F_NAME, name, 0),
    FIELD(dom_jurisdiction_t, "version", F_TEXT, version, DOM_NAME_MAX),
    FIELD(dom_jurisdiction_t, "effective", F_TIME, effective, 0),
    FIELD(dom_jurisdiction_t, "effective_date", F_DATE, effective, 0),
    FIELD(dom_jurisdiction_t, "mode", F_MODE, mode, 0),
    FIELD(dom_jurisdiction_t, "default", F_BOOL, is_default, 0),
    FIELD(dom_jurisdiction_t, "applies_to", F_TEXT, applies_to, 1 << 16),
    FIELD(dom_jurisdiction_t, "on_unavailable", F_ON_UNAVAILABLE, on_unavailable, 0),
    FIELD(dom_jurisdiction_t, "policy_url", F_TEXT, policy_url, TEXT_MAX),
    FIELD(dom_jurisdiction_t, "law", F_TEXT, law, TEXT_MAX),
    FIELD(dom_jurisdiction_t, "source_file", F_TEXT, source_file, TEXT_MAX),
};

static const field_t class_rule_fields[] = {
    FIELD(dom_class_rule_t, "deny", F_BOOL, deny, 0),
    FIELD(dom_class_rule_t, "reason", F_REASON, deny_reason, 0),
    COUNTED(dom_class_rule_t, "write", F_REGIONS, write_regions, n_write),
    COUNTED(dom_class_rule_t, "read", F_REGIONS, read_regions, n_read),
    FIELD(dom_class_rule_t, "consent", F_CONSENT, consent_required, 0),
    FIELD(dom_class_rule_t, "anonymize", F_BOOL, anonymize, 0),
};

static const field_t claim_fields[] = {
    FIELD(dom_rule_claim_t, "level", F_LEVEL, level, 0),
    FIELD(dom_rule_claim_t, "key", F_CLAIM_KEY, key, 0),
    FIELD(dom_rule_claim_t, "jurisdiction", F_JURISDICTION, jurisdiction, 0),
};

/* The fields of each record table (meta has none: its values are raw). */
typedef struct record_type {
    const field_t *fields;
    size_t n;
} record_type_t;

static const record_type_t record_types[DOM__TABLE_COUNT] = {
    [DOM__TABLE_REGIONS] = {region_fields, COUNT(region_fields)},
    [DOM__TABLE_CLASSES] = {class_fields, COUNT(class_fields)},
    [DOM__TABLE_ROUTES] = {route_fields, COUNT(route_fields)},
    [DOM__TABLE_JURISDICTIONS] = {jurisdiction_fields, COUNT(jurisdiction_fields)},
    [DOM__TABLE_CLASS_RULES] = {class_rule_fields, COUNT(class_rule_fields)},
    [DOM__TABLE_CLAIMS] = {claim_fields, COUNT(claim_fields)},
};

#define MEMBER(rec, f, T) ((T *)((char *)(rec) + (f)->at))
#define CMEMBER(rec, f, T) ((const T *)((const char *)(rec) + (f)->at))

/* ---- encoding ---- */

void dom__record_buf_clear(dom__record_buf_t *b)
{
    b->len = 0;
    if (b->base != NULL)
        b->base[0] = '\0';
}

void dom__record_buf_free(dom__record_buf_t *b)
{
    dom__text_free(b);
}

static void put_bytes(dom__record_buf_t *b, const char *s, size_t n)
{
    dom__text_append(b, s, n);
}

static void put_text(dom__record_buf_t *b, const char *s)
{
    put_bytes(b, s, strlen(s));
}

/* One "name=value\n" line; the value escaped so a record is always one field per line. */
static void put_field(dom__record_buf_t *b, const char *name, const char *value)
{
    put_text(b, name);
    put_bytes(b, "=", 1);
    for (const char *s = value != NULL ? value : ""; *s != '\0'; ++s) {
        if (*s == '\\')
            put_bytes(b, "\\\\", 2);
        else if (*s == '\n')
            put_bytes(b, "\\n", 2);
        else if (*s == '\t')
            put_bytes(b, "\\t", 2);
        else
            put_bytes(b, s, 1);
    }
    put_bytes(b, "\n", 1);
}

void dom__record_put_field(dom__record_buf_t *b, const char *name, const char *value)
{
    put_field(b, name, value);
}

static void put_field_int(dom__record_buf_t *b, const char *name, int64_t v)
{
    char tmp[24];
    snprintf(tmp, sizeof(tmp), "%" PRId64, v);
    put_field(b, name, tmp);
}

static const char *region_name(const dom_ruleset_t *rs, size_t i)
{
    return rs != NULL && i < rs->n_regions ? rs->regions[i].name : "?";
}

static void put_field_regions(dom__record_buf_t *b, const char *name, const dom_ruleset_t *rs, const uint16_t *idx,
                              size_t n)
{
    dom__record_buf_t list = {0};
    put_bytes(&list, "", 0);
    for (size_t i = 0; i < n && i < DOM_MAX_REGIONS; ++i) {
        if (i)
            put_bytes(&list, ",", 1);
        put_text(&list, region_name(rs, idx[i]));
    }
    if (list.failed)
        b->failed = 1;
    put_field(b, name, list.base != NULL ? list.base : "");
    dom__record_buf_free(&list);
}

static void encode(dom__record_buf_t *b, dom__rules_table_t table, const dom_ruleset_t *rs, const void *rec)
{
    const record_type_t *t = &record_types[table];
    for (size_t i = 0; i < t->n; ++i) {
        const field_t *f = &t->fields[i];
        char tmp[DOM_METHODS_TEXT_MAX];
        switch (f->kind) {
        case F_TEXT:
        case F_NAME:
        case F_PREFIX:
            put_field(b, f->name, *CMEMBER(rec, f, const char *));
            break;
        case F_REASON: {
            const dom_class_rule_t *r = rec;
            put_field(b, f->name, r->deny ? r->deny_reason : NULL);
            break;
        }
        case F_BOOL:
            put_field_int(b, f->name, *CMEMBER(rec, f, int) != 0);
            break;
        case F_CONSENT:
            put_field(b, f->name, dom_consent_name(*CMEMBER(rec, f, int)));
            break;
        case F_TIME:
            put_field_int(b, f->name, *CMEMBER(rec, f, int64_t));
            break;
        case F_DATE: {
            time_t t = (time_t)*CMEMBER(rec, f, int64_t);
            struct tm tm;
            if (gmtime_r(&t, &tm) == NULL || strftime(tmp, sizeof(tmp), "%Y-%m-%d", &tm) == 0)
                tmp[0] = '\0';
            put_field(b, f->name, tmp);
            break;
        }
        case F_MODE:
            put_field(b, f->name, dom_rule_mode_name(*CMEMBER(rec, f, dom_rule_mode_t)));
            break;
        case F_ON_UNAVAILABLE:
            put_field(b, f->name, dom_on_unavailable_name(*CMEMBER(rec, f, dom_on_unavailable_t)));
            break;
        case F_LEVEL:
            put_field(b, f->name, dom_rules_level_name(*CMEMBER(rec, f, dom_rules_level_t)));
            break;
        case F_METHODS:
            dom_methods_format(*CMEMBER(rec, f, unsigned), tmp, sizeof(tmp));
            put_field(b, f->name, tmp);
            break;
        case F_CLASS: {
            size_t c = *CMEMBER(rec, f, size_t);
            put_field(b, f->name, rs != NULL && c < rs->n_classes ? rs->classes[c].name : "?");
            break;
        }
        case F_REGIONS:
            put_field_regions(b, f->name, rs, CMEMBER(rec, f, uint16_t),
                              *(const size_t *)((const char *)rec + f->count_at));
            break;
        case F_CLAIM_KEY: {
            const char *key = CMEMBER(rec, f, char);
            size_t n = strnlen(key, sizeof(((dom_rule_claim_t *)0)->key));
            memcpy(tmp, key, n);
            tmp[n] = '\0';
            put_field(b, f->name, tmp);
            break;
        }
        case F_JURISDICTION:
            put_field_int(b, f->name, (int64_t)*CMEMBER(rec, f, size_t));
            break;
        }
    }
}

void dom__record_encode(dom__record_buf_t *b, dom__rules_table_t table, const dom_ruleset_t *rs, const void *record)
{
    if (table > DOM__TABLE_META && table < DOM__TABLE_COUNT)
        encode(b, table, rs, record);
}

void dom__meta_encode(dom__record_buf_t *b, dom__rules_meta_t key, const dom_ruleset_t *rs, uint64_t generation)
{
    char num[24];
    switch (key) {
    case DOM__META_FORMAT:
        put_text(b, DOM__RULES_FORMAT);
        break;
    case DOM__META_GENERATION:
        snprintf(num, sizeof(num), "%" PRIu64, generation);
        put_text(b, num);
        break;
    case DOM__META_SOURCE_HASH:
        put_text(b, rs->source_hash);
        break;
    case DOM__META_COMPILED_AT:
        snprintf(num, sizeof(num), "%" PRId64, rs->compiled_at != 0 ? rs->compiled_at : (int64_t)time(NULL));
        put_text(b, num);
        break;
    case DOM__META_DEFAULT_CLASS:
        put_text(b, rs->default_class < rs->n_classes ? rs->classes[rs->default_class].name : "");
        break;
    case DOM__META_READ_METHODS:
        put_text(b, rs->read_methods != NULL ? rs->read_methods : DOM_DEFAULT_READ_METHODS);
        break;
    case DOM__META_COUNT:
        break;
    }
}

/* A ","-separated list of method tokens ("" allowed). */
static int method_list_ok(const char *v)
{
    for (const char *p = v; *p != '\0';) {
        size_t n = strcspn(p, ",");
        if (n == 0 || n > 32)
            return 0;
        for (size_t i = 0; i < n; ++i)
            if (!((p[i] >= 'A' && p[i] <= 'Z') || (p[i] >= 'a' && p[i] <= 'z') || (p[i] >= '0' && p[i] <= '9') ||
                  strchr("!#$%&'*+-.^_`|~", p[i]) != NULL))
                return 0;
        p += n;
        if (*p == ',' && *++p == '\0')
            return 0;
    }
    return 1;
}

/* ---- decoding ---- */

#define MAX_RECORD (64 * 1024)
#define MAX_FIELDS 16
#define META_MAX 128

typedef struct record {
    size_t n;
    struct {
        const char *name, *value;
        size_t name_len, value_len;
    } f[MAX_FIELDS];
} record_t;

int dom__record_fail(dom__record_decoder_t *d, int code, const char *fmt, ...)
{
    if (d->failed == 0) {
        va_list ap;
        va_start(ap, fmt);
        if (d->err != NULL && d->errlen != 0)
            vsnprintf(d->err, d->errlen, fmt, ap);
        va_end(ap);
        d->failed = code;
    }
    return code;
}

void dom__record_at(dom__record_decoder_t *d, const void *key, size_t len)
{
    if (len >= sizeof(d->key))
        len = sizeof(d->key) - 1;
    memcpy(d->key, key, len);
    d->key[len] = '\0';
}

/* "<table> record <key>" for messages. */
#define WHERE "%s record %s"
#define WHERE_ARGS(d, table) dom__rules_table_name(table), (d)->key[0] != '\0' ? (d)->key : "?"

/* Splits "name=value\n..." into fields; anything else is corruption. */
static int split(dom__record_decoder_t *d, dom__rules_table_t table, const void *data, size_t len, record_t *rec)
{
    const char *p = data, *end = p + len;
    rec->n = 0;
    if (len > MAX_RECORD)
        return dom__record_fail(d, DOM_ECORRUPT, WHERE " is too large", WHERE_ARGS(d, table));
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *eq = memchr(p, '=', nl != NULL ? (size_t)(nl - p) : 0);
        if (nl == NULL || eq == NULL || eq == p || rec->n >= MAX_FIELDS)
            return dom__record_fail(d, DOM_ECORRUPT, WHERE " is malformed", WHERE_ARGS(d, table));
        rec->f[rec->n].name = p;
        rec->f[rec->n].name_len = (size_t)(eq - p);
        rec->f[rec->n].value = eq + 1;
        rec->f[rec->n].value_len = (size_t)(nl - eq - 1);
        ++rec->n;
        p = nl + 1;
    }
    return 0;
}

size_t dom__record_unescape(const char *s, size_t n, char *out)
{
    size_t o = 0;
    for (size_t k = 0; k < n; ++k) {
        unsigned char c = (unsigned char)s[k];
        if (c == '\\') {
            char e = ++k < n ? s[k] : '\0';
            c = e == '\\' ? '\\' : e == 'n' ? '\n' : e == 't' ? '\t' : 0;
        }
        if (c == 0 || (c < 0x20 && c != '\n' && c != '\t'))
            return (size_t)-1;
        out[o++] = (char)c;
    }
    out[o] = '\0';
    return o;
}

/* The unescaped value of a field, in the arena; NULL (and d->failed) when missing, malformed or longer than max. */
static char *get(dom__record_decoder_t *d, dom__rules_table_t table, const record_t *rec, const char *name, size_t max)
{
    for (size_t i = 0; i < rec->n; ++i) {
        if (rec->f[i].name_len != strlen(name) || memcmp(rec->f[i].name, name, rec->f[i].name_len) != 0)
            continue;
        const char *s = rec->f[i].value;
        size_t n = rec->f[i].value_len, o = 0;
        char *out = dom__arena_alloc(d->arena, n + 1);
        if (out == NULL) {
            dom__record_fail(d, DOM_ENOMEM, "out of memory");
            return NULL;
        }
        if ((o = dom__record_unescape(s, n, out)) == (size_t)-1) {
            dom__record_fail(d, DOM_ECORRUPT, WHERE ": field %s has a bad byte", WHERE_ARGS(d, table), name);
            return NULL;
        }
        if (o > max) {
            dom__record_fail(d, DOM_ECORRUPT, WHERE ": field %s is too long", WHERE_ARGS(d, table), name);
            return NULL;
        }
        return out;
    }
    dom__record_fail(d, DOM_ECORRUPT, WHERE ": no %s field", WHERE_ARGS(d, table), name);
    return NULL;
}

/* A decimal in [min, max]: an optional '-' and digits, nothing else. */
static int parse_int(const char *s, int64_t min, int64_t max, int64_t *out)
{
    if (s[0] == '\0' || (s[0] != '-' && (s[0] < '0' || s[0] > '9')))
        return -1;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (*end != '\0' || errno != 0 || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

static int find_class(const dom_ruleset_t *rs, const char *name)
{
    for (size_t i = 0; rs != NULL && i < rs->n_classes; ++i)
        if (strcmp(rs->classes[i].name, name) == 0)
            return (int)i;
    return -1;
}

/* "name,name,..." (or "" for none) into region indices; an empty or unknown name, or too many, is refused. */
static int parse_regions(dom__record_decoder_t *d, dom__rules_table_t table, const field_t *f, const char *list,
                         uint16_t *out, size_t *n)
{
    *n = 0;
    for (const char *p = list; *list != '\0';) {
        const char *comma = strchr(p, ',');
        size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);
        size_t r = 0;
        while (r < d->rs->n_regions &&
               (strlen(d->rs->regions[r].name) != len || memcmp(d->rs->regions[r].name, p, len) != 0))
            ++r;
        if (len == 0 || r == d->rs->n_regions || *n >= DOM_MAX_REGIONS)
            return dom__record_fail(d, DOM_ECORRUPT, WHERE ": %s has an unknown region or too many in \"%.80s\"",
                                    WHERE_ARGS(d, table), f->name, list);
        out[(*n)++] = (uint16_t)r;
        if (comma == NULL)
            break;
        p = comma + 1;
    }
    return 0;
}

/* One field of rec into out. A value that is there but wrong is refused with the field's name and the value. */
static int decode_field(dom__record_decoder_t *d, dom__rules_table_t table, const record_t *rec, const field_t *f,
                        void *out)
{
    if (f->kind == F_DATE)
        return 0; /* informative: effective is the value */
    size_t max = f->kind == F_TEXT ? f->max : f->kind == F_REGIONS || f->kind == F_PREFIX ? TEXT_MAX : DOM_NAME_MAX;
    const char *s = get(d, table, rec, f->name, max);
    if (s == NULL)
        return d->failed;
    size_t len = strlen(s);
    int64_t v;
    int c, rc = 0;
    switch (f->kind) {
    case F_TEXT:
        *MEMBER(out, f, const char *) = s;
        break;
    case F_NAME:
        rc = len == 0 ? -1 : 0;
        *MEMBER(out, f, const char *) = s;
        break;
    case F_PREFIX:
        rc = s[0] == '/' ? 0 : -1;
        *MEMBER(out, f, const char *) = s;
        *(size_t *)((char *)out + f->count_at) = len;
        break;
    case F_REASON: {
        const dom_class_rule_t *r = out; /* deny is decoded before: it comes first in the table */
        *MEMBER(out, f, const char *) = len != 0 ? s : r->deny ? "class_denied" : NULL;
        break;
    }
    case F_BOOL:
        if ((rc = parse_int(s, 0, 1, &v)) == 0)
            *MEMBER(out, f, int) = (int)v;
        break;
    case F_TIME:
        if ((rc = parse_int(s, 0, INT64_C(253402300799), &v)) == 0)
            *MEMBER(out, f, int64_t) = v;
        break;
    case F_MODE:
        rc = dom_rule_mode_parse(s, len, MEMBER(out, f, dom_rule_mode_t));
        break;
    case F_ON_UNAVAILABLE:
        rc = dom_on_unavailable_parse(s, len, MEMBER(out, f, dom_on_unavailable_t));
        break;
    case F_CONSENT:
        rc = dom_consent_parse(s, len, MEMBER(out, f, int));
        break;
    case F_LEVEL:
        rc = dom_rules_level_parse(s, len, MEMBER(out, f, dom_rules_level_t));
        break;
    case F_METHODS:
        rc = dom_methods_parse(s, len, MEMBER(out, f, unsigned));
        break;
    case F_CLASS:
        if ((c = find_class(d->rs, s)) >= 0)
            *MEMBER(out, f, size_t) = (size_t)c;
        rc = c < 0 ? -1 : 0;
        break;
    case F_REGIONS:
        return parse_regions(d, table, f, s, MEMBER(out, f, uint16_t), (size_t *)((char *)out + f->count_at));
    case F_CLAIM_KEY: {
        char *key = MEMBER(out, f, char);
        rc = len == 0 || len >= sizeof(((dom_rule_claim_t *)0)->key) ? -1 : 0;
        if (rc == 0) {
            memset(key, 0, sizeof(((dom_rule_claim_t *)0)->key));
            memcpy(key, s, len);
        }
        break;
    }
    case F_JURISDICTION:
        rc = d->rs->n_jurisdictions == 0 ? -1 : parse_int(s, 0, (int64_t)d->rs->n_jurisdictions - 1, &v);
        if (rc == 0)
            *MEMBER(out, f, size_t) = (size_t)v;
        break;
    case F_DATE:
        break;
    }
    if (rc < 0)
        return dom__record_fail(d, DOM_ECORRUPT, WHERE ": bad %s \"%.80s\"", WHERE_ARGS(d, table), f->name, s);
    return 0;
}

static int decode(dom__record_decoder_t *d, dom__rules_table_t table, const void *data, size_t len, void *out)
{
    record_t rec;
    if (split(d, table, data, len, &rec) != 0)
        return d->failed;
    const record_type_t *t = &record_types[table];
    for (size_t i = 0; i < t->n; ++i)
        if (decode_field(d, table, &rec, &t->fields[i], out) != 0)
            return d->failed;
    return 0;
}

int dom__meta_decode(dom__record_decoder_t *d, dom__rules_meta_t key, const void *data, size_t len)
{
    const char *name = dom__rules_meta_key(key);
    char v[META_MAX];
    if (len >= sizeof(v) || memchr(data, '\0', len) != NULL)
        return dom__record_fail(d, DOM_ECORRUPT, "meta: bad %s", name);
    memcpy(v, data, len);
    v[len] = '\0';
    dom_ruleset_t *rs = d->rs;
    int64_t n;
    int c;
    switch (key) {
    case DOM__META_FORMAT:
        if (strcmp(v, DOM__RULES_FORMAT) != 0)
            return dom__record_fail(d, DOM_ECORRUPT, "not a %s database (format \"%.40s\")", DOM__RULES_FORMAT, v);
        return 0;
    case DOM__META_GENERATION: {
        char *end;
        errno = 0;
        unsigned long long g = strtoull(v, &end, 10);
        if (v[0] < '0' || v[0] > '9' || *end != '\0' || errno != 0)
            break;
        rs->generation = g;
        return 0;
    }
    case DOM__META_SOURCE_HASH:
        if (len != 64 || strspn(v, "0123456789abcdef") != 64)
            break;
        memcpy(rs->source_hash, v, 65);
        return 0;
    case DOM__META_COMPILED_AT:
        if (parse_int(v, INT64_MIN, INT64_MAX, &n) != 0)
            break;
        rs->compiled_at = n;
        return 0;
    case DOM__META_DEFAULT_CLASS:
        if ((c = find_class(rs, v)) < 0)
            return dom__record_fail(d, DOM_ECORRUPT, "meta: unknown default_class %s", v);
        rs->default_class = (size_t)c;
        return 0;
    case DOM__META_READ_METHODS:
        if (!method_list_ok(v))
            break;
        if ((rs->read_methods = dom__arena_strndup(d->arena, v, len)) == NULL)
            return dom__record_fail(d, DOM_ENOMEM, "out of memory");
        return 0;
    case DOM__META_COUNT:
        break;
    }
    return dom__record_fail(d, DOM_ECORRUPT, "meta: bad %s", name);
}

int dom__record_decode(dom__record_decoder_t *d, dom__rules_table_t table, const void *data, size_t len, void *record)
{
    if (table <= DOM__TABLE_META || table >= DOM__TABLE_COUNT)
        return dom__record_fail(d, DOM_ECORRUPT, "%s: not a table of records", dom__rules_table_name(table));
    return decode(d, table, data, len, record);
}

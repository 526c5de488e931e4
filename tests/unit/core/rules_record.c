/*
 * Tests src/core/rules_record.c, the one rule-record codec: every enum text round-trips
 * and nothing else parses; every field of every record type round-trips (texts that need
 * escaping included), is required, and refuses a bad value with a message naming it;
 * malformed records, meta values and out-of-range references are refused. Includes the
 * .c file to walk its field tables, so a field added there is covered here without a
 * new test line.
 */
#include "core/rules_record.c"
#include "test.h"

/* ---- enum texts ---- */

/* Texts no enum accepts: near misses of real names, and the "?" every *_name() gives out of range. */
static const char *const refused[] = {"",          "?",        "Enforce",     "enforce ",      " report", "REPORT",
                                      "reporting", "rejec",    "next-region", "NONE",          "require", "Read",
                                      "writes",    "Country",  "group,",      "subdivision\n", "ALL",     "GET",
                                      "e",         "enforce\0"};

static int refused_by_all(const char *s, size_t len)
{
    dom_rule_mode_t mode = (dom_rule_mode_t)77;
    dom_on_unavailable_t unavail = (dom_on_unavailable_t)77;
    dom_access_t access = (dom_access_t)77;
    dom_rules_level_t level = (dom_rules_level_t)77;
    int consent = 77;
    return dom_rule_mode_parse(s, len, &mode) == DOM_EINVAL && mode == 77 &&
           dom_on_unavailable_parse(s, len, &unavail) == DOM_EINVAL && unavail == 77 &&
           dom_access_parse(s, len, &access) == DOM_EINVAL && access == 77 &&
           dom_rules_level_parse(s, len, &level) == DOM_EINVAL && level == 77 &&
           dom_consent_parse(s, len, &consent) == DOM_EINVAL && consent == 77;
}

static void test_enum_texts(void)
{
    /* the names, as rule files, records and tools spell them */
    is_str(dom_rule_mode_name(DOM_MODE_ENFORCE), "enforce");
    is_str(dom_rule_mode_name(DOM_MODE_REPORT), "report");
    is_str(dom_on_unavailable_name(DOM_ON_UNAVAILABLE_REJECT), "reject");
    is_str(dom_on_unavailable_name(DOM_ON_UNAVAILABLE_NEXT_REGION), "next_region");
    is_str(dom_consent_name(0), "none");
    is_str(dom_consent_name(1), "required");
    is_str(dom_consent_name(5), "required");
    is_str(dom_access_name(DOM_ACCESS_READ), "read");
    is_str(dom_access_name(DOM_ACCESS_WRITE), "write");
    is_str(dom_rules_level_name(DOM_LEVEL_SUBDIVISION), "subdivision");
    is_str(dom_rules_level_name(DOM_LEVEL_COUNTRY), "country");
    is_str(dom_rules_level_name(DOM_LEVEL_GROUP), "group");

    /* every value round-trips through its text */
    int round = 1;
    for (int v = DOM_MODE_ENFORCE; v <= DOM_MODE_REPORT; ++v) {
        dom_rule_mode_t out = (dom_rule_mode_t)99;
        const char *s = dom_rule_mode_name((dom_rule_mode_t)v);
        round &= dom_rule_mode_parse(s, strlen(s), &out) == 0 && out == (dom_rule_mode_t)v;
    }
    for (int v = DOM_ON_UNAVAILABLE_REJECT; v <= DOM_ON_UNAVAILABLE_NEXT_REGION; ++v) {
        dom_on_unavailable_t out = (dom_on_unavailable_t)99;
        const char *s = dom_on_unavailable_name((dom_on_unavailable_t)v);
        round &= dom_on_unavailable_parse(s, strlen(s), &out) == 0 && out == (dom_on_unavailable_t)v;
    }
    for (int v = 0; v <= 1; ++v) {
        int out = 99;
        const char *s = dom_consent_name(v);
        round &= dom_consent_parse(s, strlen(s), &out) == 0 && out == v;
    }
    for (int v = DOM_ACCESS_READ; v <= DOM_ACCESS_WRITE; ++v) {
        dom_access_t out = (dom_access_t)99;
        const char *s = dom_access_name((dom_access_t)v);
        round &= dom_access_parse(s, strlen(s), &out) == 0 && out == (dom_access_t)v;
    }
    for (int v = DOM_LEVEL_SUBDIVISION; v <= DOM_LEVEL_GROUP; ++v) {
        dom_rules_level_t out = (dom_rules_level_t)99;
        const char *s = dom_rules_level_name((dom_rules_level_t)v);
        round &= dom_rules_level_parse(s, strlen(s), &out) == 0 && out == (dom_rules_level_t)v;
    }
    ok(round);

    /* a value outside an enum has no valid name */
    is_str(dom_rule_mode_name((dom_rule_mode_t)2), "?");
    is_str(dom_on_unavailable_name((dom_on_unavailable_t)7), "?");
    is_str(dom_access_name((dom_access_t)2), "?");
    is_str(dom_rules_level_name((dom_rules_level_t)3), "?");
    is_str(dom_rules_level_name((dom_rules_level_t)-1), "?");

    /* nothing else parses, and a refused text leaves the output alone */
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); ++i)
        if (!ok(refused_by_all(refused[i], strlen(refused[i]) + (i == sizeof(refused) / sizeof(refused[0]) - 1))))
            printf("#   \"%s\" was accepted\n", refused[i]);
    ok(refused_by_all(NULL, 0));
    /* the length counts, not a NUL: "reportX" cut to 6 is "report" */
    dom_rule_mode_t mode = DOM_MODE_ENFORCE;
    is_int(dom_rule_mode_parse("reportX", 6, &mode), 0);
    is_int(mode, DOM_MODE_REPORT);
    is_int(dom_rule_mode_parse("report", 5, &mode), DOM_EINVAL);
}

static void test_methods(void)
{
    static const char *const names[] = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "OTHER"};
    static const unsigned bits[] = {DOM_METHOD_GET,   DOM_METHOD_HEAD,   DOM_METHOD_POST,    DOM_METHOD_PUT,
                                    DOM_METHOD_PATCH, DOM_METHOD_DELETE, DOM_METHOD_OPTIONS, DOM_METHOD_OTHER};
    for (int i = 0; i < 8; ++i) {
        is_str(dom_method_name(bits[i]), names[i]);
        /* an HTTP method is its bit, except "OTHER", which is no method: it is every method not named */
        is_int(dom_method_bit(names[i], strlen(names[i])), bits[i]);
    }
    is_str(dom_method_name(0), "?");
    is_str(dom_method_name(DOM_METHOD_GET | DOM_METHOD_PUT), "?");
    is_str(dom_method_name(0x100), "?");
    is_int(dom_method_bit("DELETE", 6), DOM_METHOD_DELETE);
    is_int(dom_method_bit("delete", 6), DOM_METHOD_OTHER); /* case-sensitive (RFC 9110 9.1) */
    is_int(dom_method_bit("PROPFIND", 8), DOM_METHOD_OTHER);
    is_int(dom_method_bit("GETS", 4), DOM_METHOD_OTHER);
    is_int(dom_method_bit("GET", 2), DOM_METHOD_OTHER);
    is_int(dom_method_bit("", 0), DOM_METHOD_OTHER);
    is_int(dom_method_bit(NULL, 3), DOM_METHOD_OTHER);

    /* every mask round-trips through its text; all bits are "ALL" */
    char text[DOM_METHODS_TEXT_MAX];
    int round = 1;
    for (unsigned m = 1; m <= DOM_METHOD_ALL; ++m) {
        unsigned back = 0;
        round &= dom_methods_format(m, text, sizeof(text)) == 0 && dom_methods_parse(text, strlen(text), &back) == 0 &&
                 back == m;
    }
    ok(round);
    dom_methods_format(DOM_METHOD_ALL, text, sizeof(text));
    is_str(text, "ALL");
    dom_methods_format(DOM_METHOD_GET | DOM_METHOD_PUT | DOM_METHOD_OTHER, text, sizeof(text));
    is_str(text, "GET,PUT,OTHER");
    dom_methods_format(DOM_METHOD_ALL & ~DOM_METHOD_OTHER, text, sizeof(text));
    is_str(text, "GET,HEAD,POST,PUT,PATCH,DELETE,OPTIONS");
    ok(strlen(text) < DOM_METHODS_TEXT_MAX);
    is_int(dom_methods_format(0, text, sizeof(text)), 0);
    is_str(text, "");
    /* too small: an error and an empty text, never a cut list */
    is_int(dom_methods_format(DOM_METHOD_GET | DOM_METHOD_PUT, text, 7), DOM_ERANGE);
    is_str(text, "");
    is_int(dom_methods_format(DOM_METHOD_GET | DOM_METHOD_PUT, text, 8), 0);
    is_str(text, "GET,PUT");
    is_int(dom_methods_format(DOM_METHOD_ALL, text, 3), DOM_ERANGE);

    static const char *const bad[] = {"",    ",",       "GET,",     ",GET", "GET,,PUT", "get",   "ALL,GET",
                                      "FOO", "GET PUT", "GET, PUT", "all",  "?",        "GET\n", "OTHERS"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); ++i) {
        unsigned m = 0x1234;
        if (!ok(dom_methods_parse(bad[i], strlen(bad[i]), &m) == DOM_EINVAL && m == 0x1234))
            printf("#   \"%s\" was accepted\n", bad[i]);
    }
    unsigned m = 0;
    is_int(dom_methods_parse("PUT,GET,PUT", 11, &m), 0); /* order and repeats do not matter */
    is_int(m, DOM_METHOD_GET | DOM_METHOD_PUT);
}

/* ---- tables and keys ---- */

static void test_tables_and_keys(void)
{
    static const char *const tables[] = {"meta",          "regions",     "classes", "routes",
                                         "jurisdictions", "class_rules", "claims"};
    is_int(DOM__TABLE_COUNT, sizeof(tables) / sizeof(tables[0]));
    for (int t = 0; t < DOM__TABLE_COUNT; ++t)
        is_str(dom__rules_table_name((dom__rules_table_t)t), tables[t]);
    is_str(dom__rules_table_name(DOM__TABLE_COUNT), "?");
    static const char *const meta[] = {"format",      "generation",    "source_hash",
                                       "compiled_at", "default_class", "read_methods"};
    is_int(DOM__META_COUNT, sizeof(meta) / sizeof(meta[0]));
    for (int k = 0; k < DOM__META_COUNT; ++k)
        is_str(dom__rules_meta_key((dom__rules_meta_t)k), meta[k]);
    is_str(dom__rules_meta_key(DOM__META_COUNT), "?");
    is_str(DOM__RULES_FORMAT, "domicile-rules/1");

    char key[DOM__RECORD_KEY_MAX];
    is_int(dom__record_key(key, 0), 8);
    is_str(key, "00000000");
    dom__record_key(key, 1234);
    is_str(key, "00001234");
    is_int(dom__record_key(key, 123456789), 9);
    is_str(key, "123456789");
    is_int(dom__class_rule_key(key, 7, "account"), 16);
    is_str(key, "00000007/account");
    /* LMDB sorts keys bytewise: the padding makes that the index order */
    char a[DOM__RECORD_KEY_MAX], b[DOM__RECORD_KEY_MAX];
    dom__record_key(a, 9);
    dom__record_key(b, 10);
    ok(strcmp(a, b) < 0);
    /* the longest class name fits */
    char name[DOM_NAME_MAX + 1];
    memset(name, 'c', DOM_NAME_MAX);
    name[DOM_NAME_MAX] = '\0';
    is_int(dom__class_rule_key(key, SIZE_MAX, name), 20 + 1 + DOM_NAME_MAX);
}

/* ---- records ---- */

/* A small set with every kind of field, built by hand so each value is known. */
static dom_ruleset_t *sample(void)
{
    dom_ruleset_t *rs = dom__ruleset_new();
    dom__arena_t *a = dom__ruleset_arena(rs);
    rs->generation = 42;
    memset(rs->source_hash, 'a', 64);
    rs->source_hash[63] = '9';
    rs->compiled_at = 1767225600;
    rs->n_regions = 3;
    rs->regions = dom__arena_calloc(a, 3, sizeof(*rs->regions));
    rs->regions[0] = (dom_region_t){"eu-central", "DE", "Frankfurt"};
    rs->regions[1] = (dom_region_t){"eu-west", "IE", "Dublin, \"west\"\twith a tab"};
    rs->regions[2] = (dom_region_t){"us-east", "US", ""};
    rs->n_classes = 2;
    rs->classes = dom__arena_calloc(a, 2, sizeof(*rs->classes));
    rs->classes[0] = (dom_data_class_t){"account", "who you are", 1};
    rs->classes[1] = (dom_data_class_t){"telemetry", "crash reports\nand counters", 0};
    rs->default_class = 1;
    rs->n_routes = 2;
    rs->routes = dom__arena_calloc(a, 2, sizeof(*rs->routes));
    rs->routes[0] = (dom_route_rule_t){"/v1/account", 11, DOM_METHOD_GET | DOM_METHOD_PUT | DOM_METHOD_OTHER, 0};
    rs->routes[1] = (dom_route_rule_t){"/", 1, DOM_METHOD_ALL, 1};
    rs->n_jurisdictions = 2;
    rs->jurisdictions = dom__arena_calloc(a, 2, sizeof(*rs->jurisdictions));
    dom_jurisdiction_t *j = rs->jurisdictions;
    j[0] = (dom_jurisdiction_t){.name = "EU-GDPR",
                                .version = "2026-01",
                                .effective = 1768867200,
                                .mode = DOM_MODE_REPORT,
                                .policy_url = "https://example.com/privacy#eu",
                                .law = "Regulation (EU) 2016/679\nback\\slash",
                                .on_unavailable = DOM_ON_UNAVAILABLE_NEXT_REGION,
                                .is_default = 0,
                                .source_file = "regions/eu.yaml",
                                .applies_to = "EEA, CH"};
    j[1] = (dom_jurisdiction_t){.name = "default",
                                .version = "1",
                                .effective = 0,
                                .mode = DOM_MODE_ENFORCE,
                                .policy_url = "",
                                .law = "",
                                .on_unavailable = DOM_ON_UNAVAILABLE_REJECT,
                                .is_default = 1,
                                .source_file = "regions/default.yaml",
                                .applies_to = ""};
    for (int i = 0; i < 2; ++i)
        j[i].classes = dom__arena_calloc(a, 2, sizeof(dom_class_rule_t));
    j[0].classes[0] = (dom_class_rule_t){.write_regions = {0, 1},
                                         .n_write = 2,
                                         .read_regions = {1, 0, 2},
                                         .n_read = 3,
                                         .consent_required = 1,
                                         .anonymize = 0};
    j[0].classes[1] =
        (dom_class_rule_t){.write_regions = {2}, .n_write = 1, .read_regions = {2}, .n_read = 1, .anonymize = 1};
    j[1].classes[0] = (dom_class_rule_t){.deny = 1, .deny_reason = "embargo"};
    j[1].classes[1] = (dom_class_rule_t){.deny = 1, .deny_reason = "class_denied"};
    rs->n_claims = 3;
    rs->claims = dom__arena_calloc(a, 3, sizeof(*rs->claims));
    rs->claims[0] = (dom_rule_claim_t){DOM_LEVEL_SUBDIVISION, "US-CA", 1};
    rs->claims[1] = (dom_rule_claim_t){DOM_LEVEL_COUNTRY, "DE", 0};
    rs->claims[2] = (dom_rule_claim_t){DOM_LEVEL_GROUP, "IE", 0};
    return rs;
}

static int same_text(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* Field-by-field equality of two records of a table (the members the record carries). */
static int same_record(dom__rules_table_t t, const void *x, const void *y)
{
    switch (t) {
    case DOM__TABLE_REGIONS: {
        const dom_region_t *a = x, *b = y;
        return same_text(a->name, b->name) && same_text(a->location, b->location) &&
               same_text(a->description, b->description);
    }
    case DOM__TABLE_CLASSES: {
        const dom_data_class_t *a = x, *b = y;
        return same_text(a->name, b->name) && same_text(a->description, b->description) && a->personal == b->personal;
    }
    case DOM__TABLE_ROUTES: {
        const dom_route_rule_t *a = x, *b = y;
        return same_text(a->prefix, b->prefix) && a->prefix_len == b->prefix_len && a->methods == b->methods &&
               a->class_index == b->class_index;
    }
    case DOM__TABLE_JURISDICTIONS: {
        const dom_jurisdiction_t *a = x, *b = y;
        return same_text(a->name, b->name) && same_text(a->version, b->version) && a->effective == b->effective &&
               a->mode == b->mode && same_text(a->policy_url, b->policy_url) && same_text(a->law, b->law) &&
               a->on_unavailable == b->on_unavailable && a->is_default == b->is_default &&
               same_text(a->source_file, b->source_file) && same_text(a->applies_to, b->applies_to);
    }
    case DOM__TABLE_CLASS_RULES: {
        const dom_class_rule_t *a = x, *b = y;
        return a->deny == b->deny && same_text(a->deny_reason, b->deny_reason) && a->n_write == b->n_write &&
               memcmp(a->write_regions, b->write_regions, a->n_write * sizeof(uint16_t)) == 0 &&
               a->n_read == b->n_read && memcmp(a->read_regions, b->read_regions, a->n_read * sizeof(uint16_t)) == 0 &&
               a->consent_required == b->consent_required && a->anonymize == b->anonymize;
    }
    case DOM__TABLE_CLAIMS: {
        const dom_rule_claim_t *a = x, *b = y;
        return a->level == b->level && memcmp(a->key, b->key, sizeof(a->key)) == 0 &&
               a->jurisdiction == b->jurisdiction;
    }
    default:
        return 0;
    }
}

/* The records of the sample, one per table (the last of each, with its key). */
typedef struct one {
    dom__rules_table_t table;
    const void *record;
    size_t size;
} one_t;

static size_t records_of(const dom_ruleset_t *rs, one_t *out)
{
    size_t n = 0;
    for (size_t i = 0; i < rs->n_regions; ++i)
        out[n++] = (one_t){DOM__TABLE_REGIONS, &rs->regions[i], sizeof(dom_region_t)};
    for (size_t i = 0; i < rs->n_classes; ++i)
        out[n++] = (one_t){DOM__TABLE_CLASSES, &rs->classes[i], sizeof(dom_data_class_t)};
    for (size_t i = 0; i < rs->n_routes; ++i)
        out[n++] = (one_t){DOM__TABLE_ROUTES, &rs->routes[i], sizeof(dom_route_rule_t)};
    for (size_t i = 0; i < rs->n_jurisdictions; ++i) {
        out[n++] = (one_t){DOM__TABLE_JURISDICTIONS, &rs->jurisdictions[i], sizeof(dom_jurisdiction_t)};
        for (size_t c = 0; c < rs->n_classes; ++c)
            out[n++] = (one_t){DOM__TABLE_CLASS_RULES, &rs->jurisdictions[i].classes[c], sizeof(dom_class_rule_t)};
    }
    for (size_t i = 0; i < rs->n_claims; ++i)
        out[n++] = (one_t){DOM__TABLE_CLAIMS, &rs->claims[i], sizeof(dom_rule_claim_t)};
    return n;
}

static char err[512];

static dom__record_decoder_t decoder(dom_ruleset_t *rs)
{
    err[0] = '\0';
    dom__record_decoder_t d = {.arena = dom__ruleset_arena(rs), .rs = rs, .err = err, .errlen = sizeof(err)};
    dom__record_at(&d, "00000001", 8);
    return d;
}

/* Decodes text as a record of table t into scratch; returns the code. */
static int decode_text(dom_ruleset_t *rs, dom__rules_table_t t, const char *text, void *scratch, size_t size)
{
    dom__record_decoder_t d = decoder(rs);
    memset(scratch, 0, size);
    return dom__record_decode(&d, t, text, strlen(text), scratch);
}

static void test_records(void)
{
    dom_ruleset_t *rs = sample();
    one_t all[32];
    size_t n = records_of(rs, all);
    dom__record_buf_t b = {0};
    _Alignas(16) unsigned char scratch[sizeof(dom_jurisdiction_t) + sizeof(dom_class_rule_t)];
    int round = 1;
    for (size_t i = 0; i < n; ++i) {
        dom__record_buf_clear(&b);
        dom__record_encode(&b, all[i].table, rs, all[i].record);
        int rc = decode_text(rs, all[i].table, b.base, scratch, all[i].size);
        if (rc != 0 || !same_record(all[i].table, all[i].record, scratch)) {
            printf("#   %s record %zu does not round-trip (%d %s):\n%s", dom__rules_table_name(all[i].table), i, rc,
                   err, b.base);
            round = 0;
        }
    }
    ok(round);

    /* what a record looks like: one escaped field per line, enums and references as text */
    dom__record_buf_clear(&b);
    dom__record_encode(&b, DOM__TABLE_JURISDICTIONS, rs, &rs->jurisdictions[0]);
    is_str(b.base,
           "name=EU-GDPR\nversion=2026-01\neffective=1768867200\neffective_date=2026-01-20\nmode=report\n"
           "default=0\napplies_to=EEA, CH\non_unavailable=next_region\npolicy_url=https://example.com/privacy#eu\n"
           "law=Regulation (EU) 2016/679\\nback\\\\slash\nsource_file=regions/eu.yaml\n");
    dom__record_buf_clear(&b);
    dom__record_encode(&b, DOM__TABLE_CLASS_RULES, rs, &rs->jurisdictions[0].classes[0]);
    is_str(b.base, "deny=0\nreason=\nwrite=eu-central,eu-west\nread=eu-west,eu-central,us-east\nconsent=required\n"
                   "anonymize=0\n");
    dom__record_buf_clear(&b);
    dom__record_encode(&b, DOM__TABLE_ROUTES, rs, &rs->routes[0]);
    is_str(b.base, "prefix=/v1/account\nmethods=GET,PUT,OTHER\nclass=account\n");
    dom__record_buf_clear(&b);
    dom__record_encode(&b, DOM__TABLE_CLAIMS, rs, &rs->claims[0]);
    is_str(b.base, "level=subdivision\nkey=US-CA\njurisdiction=1\n");
    dom__record_buf_clear(&b);
    dom__record_encode(&b, DOM__TABLE_META, rs, rs);
    is_int(b.len, 0); /* meta values are not records */

    /* a reason only goes with a deny; an empty one reads back as the default reason */
    dom_class_rule_t rule = {.deny = 0, .deny_reason = "stale", .write_regions = {0}, .n_write = 1};
    dom__record_buf_clear(&b);
    dom__record_encode(&b, DOM__TABLE_CLASS_RULES, rs, &rule);
    ok(strstr(b.base, "\nreason=\n") != NULL);
    dom_class_rule_t *back = (dom_class_rule_t *)scratch;
    is_int(decode_text(rs, DOM__TABLE_CLASS_RULES, b.base, scratch, sizeof(*back)), 0);
    ok(back->deny_reason == NULL);
    is_int(decode_text(rs, DOM__TABLE_CLASS_RULES, "deny=1\nreason=\nwrite=\nread=\nconsent=none\nanonymize=0\n",
                       scratch, sizeof(*back)),
           0);
    is_str(back->deny_reason, "class_denied");

    /* encoding a bad value writes a text decoding refuses, never a valid one */
    dom_rule_claim_t claim = {(dom_rules_level_t)9, "DE", 0};
    dom__record_buf_clear(&b);
    dom__record_encode(&b, DOM__TABLE_CLAIMS, rs, &claim);
    is_str(b.base, "level=?\nkey=DE\njurisdiction=0\n");
    is_int(decode_text(rs, DOM__TABLE_CLAIMS, b.base, scratch, sizeof(claim)), DOM_ECORRUPT);
    dom_route_rule_t route = {"/x", 2, DOM_METHOD_GET, 7};
    dom__record_buf_clear(&b);
    dom__record_encode(&b, DOM__TABLE_ROUTES, rs, &route);
    ok(strstr(b.base, "\nclass=?\n") != NULL);
    is_int(decode_text(rs, DOM__TABLE_ROUTES, b.base, scratch, sizeof(route)), DOM_ECORRUPT);

    /* unknown fields are ignored (an additive change keeps the format); field order does not matter */
    is_int(decode_text(rs, DOM__TABLE_CLAIMS, "jurisdiction=0\nkey=DE\nlater=field\nlevel=country\n", scratch,
                       sizeof(claim)),
           0);
    ok(((dom_rule_claim_t *)scratch)->level == DOM_LEVEL_COUNTRY &&
       strcmp(((dom_rule_claim_t *)scratch)->key, "DE") == 0);
    dom__record_buf_free(&b);
    dom_ruleset_release(rs);
}

/* Every field of every record type is required and refuses a bad value, naming itself. */
static void test_every_field(void)
{
    dom_ruleset_t *rs = sample();
    one_t all[32];
    size_t n = records_of(rs, all);
    dom__record_buf_t b = {0};
    _Alignas(16) unsigned char scratch[sizeof(dom_jurisdiction_t) + sizeof(dom_class_rule_t)];
    char text[4096];
    int tables_seen[DOM__TABLE_COUNT] = {0};
    size_t fields = 0;
    for (size_t i = 0; i < n; ++i) {
        dom__rules_table_t t = all[i].table;
        if (tables_seen[t]++)
            continue; /* one record of each table is enough: the field table is the same */
        dom__record_buf_clear(&b);
        dom__record_encode(&b, t, rs, all[i].record);
        const record_type_t *type = &record_types[t];
        for (size_t k = 0; k < type->n; ++k) {
            const field_t *f = &type->fields[k];
            ++fields;
            /* the record without this field's line */
            char line_start[80];
            snprintf(line_start, sizeof(line_start), "%s=", f->name);
            const char *at = strncmp(b.base, line_start, strlen(line_start)) == 0 ? b.base : NULL;
            if (at == NULL) {
                char with_nl[82];
                snprintf(with_nl, sizeof(with_nl), "\n%s", line_start);
                at = strstr(b.base, with_nl);
                at = at != NULL ? at + 1 : NULL;
            }
            if (!ok(at != NULL)) {
                printf("#   %s has no line for field %s\n", dom__rules_table_name(t), f->name);
                continue;
            }
            const char *eol = strchr(at, '\n') + 1;
            snprintf(text, sizeof(text), "%.*s%s", (int)(at - b.base), b.base, eol);
            int rc = decode_text(rs, t, text, scratch, all[i].size);
            if (f->kind == F_DATE) {
                is_int(rc, 0); /* informative: the date is read from effective */
                continue;
            }
            if (!is_int(rc, DOM_ECORRUPT) || !ok(strstr(err, f->name) != NULL && strstr(err, "00000001") != NULL))
                printf("#   %s without %s: %s\n", dom__rules_table_name(t), f->name, err);
            /* the field with a value no kind accepts (a control byte), and with one only text accepts */
            snprintf(text, sizeof(text), "%.*s%s=\\x\n%s", (int)(at - b.base), b.base, f->name, eol);
            is_int(decode_text(rs, t, text, scratch, all[i].size), DOM_ECORRUPT);
            snprintf(text, sizeof(text), "%.*s%s=bogus value\n%s", (int)(at - b.base), b.base, f->name, eol);
            int text_kind = f->kind == F_NAME || f->kind == F_REASON || (f->kind == F_TEXT && f->max >= 11);
            if (!is_int(decode_text(rs, t, text, scratch, all[i].size), text_kind ? 0 : DOM_ECORRUPT))
                printf("#   %s %s: %s\n", dom__rules_table_name(t), f->name, err);
            if (!text_kind &&
                !ok(strstr(err, f->name) != NULL && (f->kind == F_TEXT || strstr(err, "bogus value") != NULL)))
                printf("#   message: %s\n", err);
        }
    }
    for (int t = DOM__TABLE_META + 1; t < DOM__TABLE_COUNT; ++t)
        ok(tables_seen[t] > 0);
    printf("# %zu fields checked\n", fields);
    is_int(fields, 3 + 3 + 3 + 11 + 6 + 3);
    dom__record_buf_free(&b);
    dom_ruleset_release(rs);
}

/* Values out of range, references to nothing, and records that are not records. */
static void test_refused_records(void)
{
    dom_ruleset_t *rs = sample();
    _Alignas(16) unsigned char scratch[sizeof(dom_jurisdiction_t) + sizeof(dom_class_rule_t)];
    static const struct {
        dom__rules_table_t table;
        const char *text;
        const char *why; /* in the message */
    } cases[] = {
        {DOM__TABLE_REGIONS, "name=x\nlocation=DEU\ndescription=\n", "location"},
        {DOM__TABLE_REGIONS, "name=\nlocation=DE\ndescription=\n", "name"},
        {DOM__TABLE_CLASSES, "name=c\ndescription=\npersonal=2\n", "personal"},
        {DOM__TABLE_CLASSES, "name=c\ndescription=\npersonal=+1\n", "personal"},
        {DOM__TABLE_CLASSES, "name=c\ndescription=\npersonal=\n", "personal"},
        {DOM__TABLE_ROUTES, "prefix=v1\nmethods=ALL\nclass=account\n", "prefix"},
        {DOM__TABLE_ROUTES, "prefix=/v1\nmethods=\nclass=account\n", "methods"},
        {DOM__TABLE_ROUTES, "prefix=/v1\nmethods=ALL\nclass=marketing\n", "class"},
        {DOM__TABLE_JURISDICTIONS,
         "name=J\nversion=1\neffective=253402300800\nmode=enforce\ndefault=0\napplies_to=\non_unavailable=reject\n"
         "policy_url=\nlaw=\nsource_file=\n",
         "effective"},
        {DOM__TABLE_JURISDICTIONS,
         "name=J\nversion=1\neffective=-1\nmode=enforce\ndefault=0\napplies_to=\non_unavailable=reject\n"
         "policy_url=\nlaw=\nsource_file=\n",
         "effective"},
        {DOM__TABLE_JURISDICTIONS,
         "name=J\nversion=1\neffective=0\nmode=Enforce\ndefault=0\napplies_to=\non_unavailable=reject\n"
         "policy_url=\nlaw=\nsource_file=\n",
         "mode"},
        {DOM__TABLE_JURISDICTIONS,
         "name=J\nversion=1234567890123456789012345678901234567890123456789012345678901234\neffective=0\n"
         "mode=enforce\ndefault=0\napplies_to=\non_unavailable=reject\npolicy_url=\nlaw=\nsource_file=\n",
         "version"},
        {DOM__TABLE_CLASS_RULES, "deny=0\nreason=\nwrite=eu-centrl\nread=\nconsent=none\nanonymize=0\n", "write"},
        {DOM__TABLE_CLASS_RULES,
         "deny=0\nreason=\nwrite=eu-central,eu-central,eu-central,eu-central,eu-central,eu-central,eu-central,"
         "eu-central,eu-central,eu-central,eu-central,eu-central,eu-central,eu-central,eu-central,eu-central,"
         "eu-central\nread=\nconsent=none\nanonymize=0\n",
         "write"},
        {DOM__TABLE_CLASS_RULES, "deny=0\nreason=\nwrite=eu-west,\nread=\nconsent=none\nanonymize=0\n", "write"},
        {DOM__TABLE_CLASS_RULES, "deny=0\nreason=\nwrite=\nread=\nconsent=yes\nanonymize=0\n", "consent"},
        {DOM__TABLE_CLAIMS, "level=country\nkey=DE\njurisdiction=2\n", "jurisdiction"},
        {DOM__TABLE_CLAIMS, "level=country\nkey=ABCDEFGH\njurisdiction=0\n", "key"},
        {DOM__TABLE_CLAIMS, "level=country\nkey=\njurisdiction=0\n", "key"},
        {DOM__TABLE_CLAIMS, "level=city\nkey=DE\njurisdiction=0\n", "level"},
        /* framing */
        {DOM__TABLE_CLAIMS, "level=country\nkey=DE\njurisdiction=0", "malformed"},
        {DOM__TABLE_CLAIMS, "level=country\nkey DE\njurisdiction=0\n", "malformed"},
        {DOM__TABLE_CLAIMS, "=country\nkey=DE\njurisdiction=0\n", "malformed"},
        {DOM__TABLE_CLAIMS, "level=country\nkey=D\\\njurisdiction=0\n", "bad byte"},
        {DOM__TABLE_CLAIMS, "level=country\nkey=D\x01\njurisdiction=0\n", "bad byte"},
        {DOM__TABLE_CLAIMS,
         "a=1\nb=1\nc=1\nd=1\ne=1\nf=1\ng=1\nh=1\ni=1\nj=1\nk=1\nl=1\nm=1\nn=1\nlevel=country\n"
         "key=DE\njurisdiction=0\n",
         "malformed"},
        {DOM__TABLE_META, "level=country\nkey=DE\njurisdiction=0\n", "not a table of records"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); ++i) {
        int rc = decode_text(rs, cases[i].table, cases[i].text, scratch, sizeof(scratch));
        if (!is_int(rc, DOM_ECORRUPT) || !ok(strstr(err, cases[i].why) != NULL))
            printf("#   case %zu: %s\n", i, err);
    }
    /* a record too large for any real one */
    size_t big = 65 * 1024;
    char *huge = malloc(big + 1);
    memset(huge, 'x', big);
    memcpy(huge, "law=", 4);
    huge[big - 1] = '\n';
    huge[big] = '\0';
    is_int(decode_text(rs, DOM__TABLE_JURISDICTIONS, huge, scratch, sizeof(scratch)), DOM_ECORRUPT);
    ok(strstr(err, "too large") != NULL);
    free(huge);
    /* a claim can only point at a jurisdiction the set has */
    size_t n = rs->n_jurisdictions;
    rs->n_jurisdictions = 0;
    is_int(decode_text(rs, DOM__TABLE_CLAIMS, "level=country\nkey=DE\njurisdiction=0\n", scratch, sizeof(scratch)),
           DOM_ECORRUPT);
    rs->n_jurisdictions = n;

    /* the first failure is the one reported */
    dom__record_decoder_t d = decoder(rs);
    dom__record_fail(&d, DOM_ECORRUPT, "first");
    dom__record_fail(&d, DOM_ENOMEM, "second");
    is_int(d.failed, DOM_ECORRUPT);
    is_str(err, "first");
    /* and a decoder without an error buffer still fails */
    dom__record_decoder_t quiet = {.arena = dom__ruleset_arena(rs), .rs = rs};
    is_int(dom__record_decode(&quiet, DOM__TABLE_CLAIMS, "level=x\n", 8, scratch), DOM_ECORRUPT);
    /* a long key is cut in messages, not overrun */
    char long_key[300];
    memset(long_key, 'k', sizeof(long_key));
    dom__record_at(&d, long_key, sizeof(long_key));
    is_int(strlen(d.key), DOM__RECORD_KEY_MAX - 1);
    dom_ruleset_release(rs);
}

static void test_meta(void)
{
    dom_ruleset_t *rs = sample();
    dom_ruleset_t *back = dom__ruleset_new();
    back->classes = rs->classes; /* the default class is read by name among the classes */
    back->n_classes = rs->n_classes;
    dom__record_buf_t b = {0};
    int round = 1;
    for (int k = 0; k < DOM__META_COUNT; ++k) {
        dom__record_buf_clear(&b);
        dom__meta_encode(&b, (dom__rules_meta_t)k, rs, 43);
        dom__record_decoder_t d = decoder(back);
        if (dom__meta_decode(&d, (dom__rules_meta_t)k, b.base, b.len) != 0) {
            printf("#   meta %s=%s: %s\n", dom__rules_meta_key((dom__rules_meta_t)k), b.base, err);
            round = 0;
        }
    }
    ok(round);
    is_int(back->generation, 43); /* the database's generation, not the set's */
    is_str(back->source_hash, rs->source_hash);
    is_int(back->compiled_at, rs->compiled_at);
    is_int(back->default_class, rs->default_class);
    dom__record_buf_clear(&b);
    dom__meta_encode(&b, DOM__META_FORMAT, rs, 0);
    is_str(b.base, DOM__RULES_FORMAT);

    static const struct {
        dom__rules_meta_t key;
        const char *value;
    } bad[] = {
        {DOM__META_FORMAT, "domicile-rules/2"},
        {DOM__META_FORMAT, ""},
        {DOM__META_GENERATION, ""},
        {DOM__META_GENERATION, "-1"},
        {DOM__META_GENERATION, "12abc"},
        {DOM__META_GENERATION, "99999999999999999999999"},
        {DOM__META_SOURCE_HASH, "abc"},
        {DOM__META_SOURCE_HASH, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
        {DOM__META_COMPILED_AT, "1x"},
        {DOM__META_COMPILED_AT, ""},
        {DOM__META_DEFAULT_CLASS, "marketing"},
        {DOM__META_DEFAULT_CLASS, ""},
        {DOM__META_READ_METHODS, ","},
        {DOM__META_READ_METHODS, "PROPFIND,"},
        {DOM__META_READ_METHODS, ",PROPFIND"},
        {DOM__META_READ_METHODS, "PROP FIND"},
        {DOM__META_READ_METHODS, "PROPFIND,,REPORT"},
        {DOM__META_COUNT, "1"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); ++i) {
        dom__record_decoder_t d = decoder(back);
        if (!is_int(dom__meta_decode(&d, bad[i].key, bad[i].value, strlen(bad[i].value)), DOM_ECORRUPT))
            printf("#   meta %s=\"%s\" was accepted\n", dom__rules_meta_key(bad[i].key), bad[i].value);
    }
    dom__record_decoder_t d = decoder(back);
    is_int(dom__meta_decode(&d, DOM__META_GENERATION,
                            "1\0"
                            "2",
                            3),
           DOM_ECORRUPT);
    char long_value[200];
    memset(long_value, '1', sizeof(long_value));
    d = decoder(back);
    is_int(dom__meta_decode(&d, DOM__META_GENERATION, long_value, sizeof(long_value)), DOM_ECORRUPT);
    back->classes = NULL;
    back->n_classes = 0;
    dom_ruleset_release(back);
    dom__record_buf_free(&b);
    dom_ruleset_release(rs);
}

int main(void)
{
    subtest("enum texts", test_enum_texts);
    subtest("method names and masks", test_methods);
    subtest("tables and keys", test_tables_and_keys);
    subtest("records round-trip", test_records);
    subtest("every field is required and checked", test_every_field);
    subtest("refused records", test_refused_records);
    subtest("meta values", test_meta);
    return done_testing();
}

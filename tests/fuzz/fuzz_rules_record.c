/*
 * Fuzzes the rule-record decoder (src/core/rules_record.c), what the live store runs on
 * every record of a rules file that may be damaged: the first byte picks the table (or
 * the meta key), the rest is the record. Any input must decode or be refused with
 * DOM_ECORRUPT and a message; a record that decodes must hold only in-range values and
 * survive a round trip: encoding it and decoding that gives the same encoding again.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "rules_record_internal.h"

#define CHECK(cond)                                                                                                    \
    do {                                                                                                               \
        if (!(cond))                                                                                                   \
            abort();                                                                                                   \
    } while (0)

/* The set records refer to: two regions, two classes, three jurisdictions. */
static dom_region_t regions[] = {{"eu-central", "DE", ""}, {"eu-west", "IE", ""}};
static dom_data_class_t classes[] = {{"account", "", 1}, {"content", "", 0}};

typedef union any_record {
    dom_region_t region;
    dom_data_class_t data_class;
    dom_route_rule_t route;
    dom_jurisdiction_t jurisdiction;
    dom_class_rule_t class_rule;
    dom_rule_claim_t claim;
} any_record_t;

static void check_values(dom__rules_table_t table, const any_record_t *r)
{
    switch (table) {
    case DOM__TABLE_ROUTES:
        CHECK(r->route.prefix[0] == '/' && strlen(r->route.prefix) == r->route.prefix_len);
        CHECK(r->route.methods != 0 && r->route.methods <= DOM_METHOD_ALL && r->route.class_index < 2);
        break;
    case DOM__TABLE_CLASS_RULES:
        CHECK(r->class_rule.n_write <= DOM_MAX_REGIONS && r->class_rule.n_read <= DOM_MAX_REGIONS);
        for (size_t i = 0; i < r->class_rule.n_write; ++i)
            CHECK(r->class_rule.write_regions[i] < 2);
        for (size_t i = 0; i < r->class_rule.n_read; ++i)
            CHECK(r->class_rule.read_regions[i] < 2);
        CHECK(!r->class_rule.deny || r->class_rule.deny_reason != NULL);
        break;
    case DOM__TABLE_CLAIMS:
        CHECK(r->claim.key[0] != '\0' && r->claim.key[7] == '\0' && r->claim.jurisdiction < 3);
        CHECK(r->claim.level <= DOM_LEVEL_GROUP);
        break;
    case DOM__TABLE_JURISDICTIONS:
        CHECK(r->jurisdiction.name[0] != '\0' && r->jurisdiction.effective >= 0);
        CHECK(r->jurisdiction.mode <= DOM_MODE_REPORT && r->jurisdiction.on_unavailable <= 1);
        break;
    default:
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    unsigned pick = data[0] % (DOM__TABLE_COUNT - 1 + DOM__META_COUNT);
    ++data;
    --size;
    dom_ruleset_t *rs = dom__ruleset_new();
    if (rs == NULL)
        return 0;
    rs->regions = regions;
    rs->n_regions = 2;
    rs->classes = classes;
    rs->n_classes = 2;
    rs->n_jurisdictions = 3;
    char err[256] = "";
    dom__record_decoder_t d = {.arena = dom__ruleset_arena(rs), .rs = rs, .err = err, .errlen = sizeof(err)};
    dom__record_at(&d, "00000000", 8);
    if (pick >= DOM__TABLE_COUNT - 1) {
        int rc = dom__meta_decode(&d, (dom__rules_meta_t)(pick - (DOM__TABLE_COUNT - 1)), data, size);
        CHECK(rc == 0 || (rc == DOM_ECORRUPT && err[0] != '\0'));
        goto cleanup;
    }
    dom__rules_table_t table = (dom__rules_table_t)(pick + 1);
    any_record_t r, again;
    memset(&r, 0, sizeof(r));
    int rc = dom__record_decode(&d, table, data, size, &r);
    CHECK(rc == 0 || ((rc == DOM_ECORRUPT || rc == DOM_ENOMEM) && err[0] != '\0'));
    if (rc != 0)
        goto cleanup;
    check_values(table, &r);
    dom__record_buf_t first = {0}, second = {0};
    dom__record_encode(&first, table, rs, &r);
    memset(&again, 0, sizeof(again));
    CHECK(first.failed || dom__record_decode(&d, table, first.base, first.len, &again) == 0);
    dom__record_encode(&second, table, rs, &again);
    CHECK(first.failed || second.failed ||
          (first.len == second.len && memcmp(first.base, second.base, first.len) == 0));
    dom__record_buf_free(&first);
    dom__record_buf_free(&second);

cleanup:
    rs->regions = NULL;
    rs->classes = NULL;
    dom_ruleset_release(rs);
    return 0;
}

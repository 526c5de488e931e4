/*
 * Fuzzes the body check (src/core/body.c), which runs on every request body of a JSON class: the first
 * byte picks the headers (Content-Type, Content-Encoding) and whether the decision anonymizes, the rest is
 * the body. Any input must give a verdict and no crash, and the verdicts must agree with each other:
 * - refuse answers 422 exactly when scrub removes something (same body, same headers);
 * - whatever is forwarded (the body as sent, or scrub's re-serialisation) passes the refusing check: it is
 *   JSON, it carries no identity field at any depth, and checking it again removes nothing;
 * - a refusal forwards nothing.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "domicile/body.h"

#define CHECK(cond)                                                                                                    \
    do {                                                                                                               \
        if (!(cond))                                                                                                   \
            abort();                                                                                                   \
    } while (0)

static const char fields[] = "email,user_id,device_id,e,a_b";
static const dom_data_class_t refuse_class = {"telemetry", "", 0, DOM_BODY_JSON, fields, DOM_IDENTITY_REFUSE};
static const dom_data_class_t scrub_class = {"telemetry", "", 0, DOM_BODY_JSON, fields, DOM_IDENTITY_SCRUB};

static int verdict_ok(const dom_body_verdict_t *v)
{
    switch (v->status) {
    case 0:
        return v->reason == NULL && (v->body == NULL) == (v->removed == 0);
    case 400:
    case 415:
    case 422:
        return v->reason != NULL && v->body == NULL && (v->status == 422) == (v->field != NULL);
    default:
        return 0;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    static const char *const types[] = {"application/json", "application/x+json; charset=utf-8", "text/plain", NULL};
    unsigned flags = data[0];
    dom_body_input_t in = {.data = (const char *)data + 1, .len = size - 1};
    const char *ct = types[flags & 3];
    if (ct != NULL)
        in.content_type = (dom_strref_t){ct, strlen(ct)};
    if (flags & 4)
        in.content_encoding = (dom_strref_t){"gzip", 4};
    int anonymize = (flags & 8) == 0;

    dom_body_verdict_t refused, scrubbed;
    if (dom_body_check(&refuse_class, anonymize, &in, &refused) != 0)
        return 0; /* out of memory */
    CHECK(verdict_ok(&refused));
    if (dom_body_check(&scrub_class, anonymize, &in, &scrubbed) != 0)
        return 0;
    CHECK(verdict_ok(&scrubbed));
    CHECK(scrubbed.status != 422);
    if (refused.status == 422)
        CHECK(scrubbed.status == 0 && scrubbed.removed != 0 && anonymize);
    else
        CHECK(scrubbed.status == refused.status && scrubbed.removed == 0 && scrubbed.body == NULL);

    if (scrubbed.status == 0 && anonymize && in.len != 0) {
        /* what would be forwarded, checked again as a refusing class sees it */
        dom_body_input_t again = in;
        if (scrubbed.body != NULL) {
            again.data = scrubbed.body;
            again.len = scrubbed.body_len;
        }
        dom_body_verdict_t v;
        if (dom_body_check(&refuse_class, 1, &again, &v) == 0) {
            CHECK(v.status == 0 && v.body == NULL);
            dom_body_verdict_free(&v);
        }
    }
    dom_body_verdict_free(&refused);
    dom_body_verdict_free(&scrubbed);
    return 0;
}

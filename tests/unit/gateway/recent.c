/* Tests src/gateway/recent.c: per-minute counts summed over threads, old minutes dropped, reload events. */
#include <stdlib.h>
#include <string.h>
#include "test.h"
#include "gateway/recent.h"

static const dom__recent_row_t *row(const dom__recent_row_t *rows, size_t n, const char *name, int refusal)
{
    for (size_t i = 0; i < n; ++i)
        if (rows[i].refusal == refusal && strcmp(rows[i].name, name) == 0)
            return &rows[i];
    return NULL;
}

static void test_counts(void)
{
    dom__recent_t *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
    dom__recent_row_t rows[16];
    int64_t t0 = 1796040000; /* a minute boundary */
    dom__recent_count(a, t0, "EU-GDPR", NULL);
    dom__recent_count(a, t0 + 5, "EU-GDPR", NULL);
    dom__recent_count(b, t0 + 59, "EU-GDPR", "region_unavailable");
    dom__recent_count(b, t0 + 60, NULL, "no_rules"); /* the next minute; no jurisdiction: "none" */
    dom__recent_t *threads[] = {a, b};
    size_t n = dom__recent_sum(threads, 2, t0 + 61, rows, 16);
    const dom__recent_row_t *eu = row(rows, n, "EU-GDPR", 0), *none = row(rows, n, "none", 0);
    ok(eu != NULL && eu->counts[1] == 3 && eu->counts[0] == 0);
    ok(none != NULL && none->counts[0] == 1);
    const dom__recent_row_t *ru = row(rows, n, "region_unavailable", 1), *nr = row(rows, n, "no_rules", 1);
    ok(ru != NULL && ru->counts[1] == 1);
    ok(nr != NULL && nr->counts[0] == 1);
    ok(n == 4 && rows[0].refusal == 0 && rows[n - 1].refusal == 1); /* jurisdictions first */
    /* ten minutes later the first minute is gone; its slot is reused and cleared */
    n = dom__recent_sum(threads, 2, t0 + 60 * DOM__RECENT_MINUTES, rows, 16);
    ok(row(rows, n, "EU-GDPR", 0) == NULL);
    dom__recent_count(a, t0 + 60 * DOM__RECENT_MINUTES, "EU-GDPR", NULL);
    n = dom__recent_sum(threads, 2, t0 + 60 * DOM__RECENT_MINUTES, rows, 16);
    eu = row(rows, n, "EU-GDPR", 0);
    ok(eu != NULL && eu->counts[0] == 1);
    free(a);
    free(b);
}

static void test_events(void)
{
    dom__event_t ev[DOM__EVENTS_KEPT];
    for (int i = 0; i < DOM__EVENTS_KEPT + 3; ++i)
        dom__event_add(i % 2, "event %d", i);
    size_t n = dom__events_get(ev, DOM__EVENTS_KEPT);
    is_int(n, DOM__EVENTS_KEPT);
    char want[32];
    snprintf(want, sizeof(want), "event %d", DOM__EVENTS_KEPT + 2);
    is_str(ev[0].text, want); /* newest first */
    ok(ev[0].failed == ((DOM__EVENTS_KEPT + 2) % 2));
}

int main(void)
{
    subtest("per-minute counts", test_counts);
    subtest("reload events", test_events);
    return done_testing();
}

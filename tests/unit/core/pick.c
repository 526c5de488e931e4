/*
 * Tests src/core/pick.c exhaustively: every combination of up to three clusters (each in one of
 * three listed regions or an unlisted one, with one or two nodes, each usable or not), every
 * ordered region list over the three regions, both on_unavailable settings, both balances and
 * two cursors. Each outcome is checked against the rules in words (pick.h), not against a copy
 * of the algorithm: never outside the list, earliest region first, reject stops at the first
 * served region, configuration order inside a region, balance inside a cluster.
 */
#include <stdlib.h>
#include <string.h>
#include "domicile/pick.h"
#include "test.h"

static const char *names[] = {"eu-central", "eu-west", "us-east", "cn-north"}; /* cn-north is never listed */

static size_t checks, failures;

#define CHECK(cond)                                                                                                    \
    do {                                                                                                               \
        ++checks;                                                                                                      \
        if (!(cond) && failures++ < 10)                                                                                \
            printf("#   failed: %s (line %d)\n", #cond, __LINE__);                                                     \
    } while (0)

static int listed_rank(const char *region, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; ++i)
        if (strcmp(list[i], region) == 0)
            return (int)i;
    return -1;
}

static int any_usable(const dom_pick_cluster_t *c)
{
    for (size_t j = 0; j < c->n_nodes; ++j)
        if (c->nodes[j].usable)
            return 1;
    return 0;
}

/* does some cluster serve region r, and does one of them have a usable node? */
static void served(const dom_pick_cluster_t *cl, size_t n, const char *r, int *has_cluster, int *has_usable)
{
    *has_cluster = *has_usable = 0;
    for (size_t i = 0; i < n; ++i)
        if (strcmp(cl[i].region, r) == 0) {
            *has_cluster = 1;
            *has_usable |= any_usable(&cl[i]);
        }
}

static void check_one(const dom_pick_cluster_t *cl, size_t n, const char *const *list, size_t n_list,
                      dom_on_unavailable_t on)
{
    dom_pick_t p = {99, 99, 99};
    dom_pick_result_t res = dom_pick(cl, n, list, n_list, on, &p);
    /* the first listed region some cluster serves, and the first with a usable node */
    int first_served = -1, first_usable = -1, any_served = 0;
    for (size_t r = 0; r < n_list; ++r) {
        int hc, hu;
        served(cl, n, list[r], &hc, &hu);
        if (hc && first_served < 0)
            first_served = (int)r;
        if (hu && first_usable < 0)
            first_usable = (int)r;
        any_served |= hc;
    }
    if (res == DOM_PICK_OK) {
        CHECK(p.cluster < n && p.node < cl[p.cluster].n_nodes);
        const dom_pick_cluster_t *c = &cl[p.cluster];
        int rank = listed_rank(c->region, list, n_list);
        CHECK(rank >= 0);                     /* never outside the list */
        CHECK((size_t)rank == p.region_rank); /* the rank it reports is the region's */
        CHECK(c->nodes[p.node].usable);       /* never a down or tried node */
        CHECK(rank == first_usable);          /* the earliest region that can take it */
        if (on == DOM_ON_UNAVAILABLE_REJECT)
            CHECK(rank == first_served);       /* reject: never past the first served region */
        for (size_t i = 0; i < p.cluster; ++i) /* configuration order inside the region */
            if (strcmp(cl[i].region, c->region) == 0)
                CHECK(!any_usable(&cl[i]));
        /* balance inside the cluster, from the cursor */
        size_t k = c->n_nodes;
        for (size_t i = 0; i < c->n_nodes; ++i) {
            size_t idx = (c->cursor + i) % c->n_nodes;
            if (!c->nodes[idx].usable)
                continue;
            if (c->balance == DOM_BALANCE_ROUND_ROBIN) {
                k = idx;
                break;
            }
            if (k == c->n_nodes || c->nodes[idx].outstanding < c->nodes[k].outstanding)
                k = idx;
        }
        CHECK(p.node == k);
    } else if (res == DOM_PICK_NONE_UP) {
        CHECK(any_served);
        if (on == DOM_ON_UNAVAILABLE_REJECT)
            CHECK(first_served >= 0 && first_usable != first_served);
        else
            CHECK(first_usable < 0);
    } else {
        CHECK(res == DOM_PICK_NO_CLUSTER);
        CHECK(!any_served);
    }
}

static void test_exhaustive(void)
{
    /* the region lists: every ordered selection of distinct regions among the first three */
    const char *lists[16][3];
    size_t list_len[16], n_lists = 0;
    list_len[n_lists++] = 0;
    for (int a = 0; a < 3; ++a) {
        lists[n_lists][0] = names[a];
        list_len[n_lists++] = 1;
        for (int b = 0; b < 3; ++b) {
            if (b == a)
                continue;
            lists[n_lists][0] = names[a];
            lists[n_lists][1] = names[b];
            list_len[n_lists++] = 2;
            int c = 3 - a - b;
            lists[n_lists][0] = names[a];
            lists[n_lists][1] = names[b];
            lists[n_lists][2] = names[c];
            list_len[n_lists++] = 3;
        }
    }
    ok(n_lists == 16);

    /* one cluster's shape: region (4) x nodes {1 node: 2 states, 2 nodes: 4 states} = 24 */
    dom_pick_node_t nodes[3][2];
    dom_pick_cluster_t cl[3];
    size_t combos = 0;
    for (size_t n = 0; n <= 3; ++n) {
        size_t shapes = 1;
        for (size_t i = 0; i < n; ++i)
            shapes *= 24;
        for (size_t s = 0; s < shapes; ++s) {
            size_t v = s;
            for (size_t i = 0; i < n; ++i, v /= 24) {
                size_t shape = v % 24, region = shape / 6, st = shape % 6;
                cl[i].region = names[region];
                cl[i].nodes = nodes[i];
                cl[i].n_nodes = st < 2 ? 1 : 2;
                nodes[i][0].usable = st < 2 ? (int)st : (int)((st - 2) & 1);
                nodes[i][1].usable = st < 2 ? 0 : (int)(((st - 2) >> 1) & 1);
                nodes[i][0].outstanding = i + 1; /* node 1 is less loaded than node 0 in every other cluster */
                nodes[i][1].outstanding = (i & 1) ? 0 : i + 2;
            }
            for (int balance = 0; balance < 2; ++balance)
                for (size_t cursor = 0; cursor < 2; ++cursor) {
                    for (size_t i = 0; i < n; ++i) {
                        cl[i].balance = (dom_balance_t)balance;
                        cl[i].cursor = cursor;
                    }
                    for (size_t l = 0; l < n_lists; ++l) {
                        check_one(cl, n, lists[l], list_len[l], DOM_ON_UNAVAILABLE_REJECT);
                        check_one(cl, n, lists[l], list_len[l], DOM_ON_UNAVAILABLE_NEXT_REGION);
                        combos += 2;
                    }
                }
        }
    }
    printf("# %zu combinations, %zu checks\n", combos, checks);
    ok(combos > 1000000);
    is_int(failures, 0);
}

static void test_examples(void)
{
    /* the cases in words: eu-central down, eu-west up; an unlisted region is never taken */
    dom_pick_node_t down = {0, 0}, up = {1, 0};
    dom_pick_cluster_t cl[] = {
        {"cn-north", DOM_BALANCE_ROUND_ROBIN, &up, 1, 0},
        {"eu-central", DOM_BALANCE_ROUND_ROBIN, &down, 1, 0},
        {"eu-west", DOM_BALANCE_ROUND_ROBIN, &up, 1, 0},
    };
    const char *eu[] = {"eu-central", "eu-west"};
    dom_pick_t p;
    is_int(dom_pick(cl, 3, eu, 2, DOM_ON_UNAVAILABLE_REJECT, &p), DOM_PICK_NONE_UP);
    is_int(dom_pick(cl, 3, eu, 2, DOM_ON_UNAVAILABLE_NEXT_REGION, &p), DOM_PICK_OK);
    is_int(p.cluster, 2);
    is_int(p.region_rank, 1);
    const char *us[] = {"us-east"};
    is_int(dom_pick(cl, 3, us, 1, DOM_ON_UNAVAILABLE_NEXT_REGION, &p), DOM_PICK_NO_CLUSTER);
    is_int(dom_pick(cl, 3, NULL, 0, DOM_ON_UNAVAILABLE_NEXT_REGION, &p), DOM_PICK_NO_CLUSTER);
}

int main(void)
{
    subtest("examples", test_examples);
    subtest("every combination", test_exhaustive);
    return done_testing();
}

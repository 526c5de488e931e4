/*
 * bench/scrub: what the body check (step 5b, src/core/body.c) costs per request body of a JSON class,
 * on one thread: crash reports of about 1, 4, 16 and 64 KiB through each path the gateway takes
 *
 *   json     the class is JSON but the rule does not anonymize it: media type, depth pre-scan, parse
 *   clean    anonymized, no identity field: + the walk over every member; forwarded as sent
 *   refuse   anonymized, an identity field in the last frame: 422 (the parse is whole either way)
 *   scrub    anonymized, identity fields in the user object and in every frame: removed, re-serialised
 *
 * and prints ns per body, ns per KiB, and ratios against anchors measured in the same run (a memcpy of
 * the body, and jansson's parse alone) and against the ~36 µs of CPU a proxied 1 KiB HTTP/2 POST costs
 * the gateway (docs: bench/scrub.md). Usage: bench/scrub [seconds per cell, default 0.3], or
 * bench/scrub --calls N PATH BYTES under callgrind (bench/scrub.md).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "domicile/body.h"

#define POST_BUDGET_NS 36000.0 /* CPU per proxied 1 KiB HTTP/2 POST (h2o as a TLS reverse proxy) */
#define ROUNDS 15

static const dom_data_class_t refuse_class = {"telemetry",
                                              "",
                                              0,
                                              DOM_BODY_JSON,
                                              "email,phone,phone_number,user_id,user_name,account_id,full_name,"
                                              "device_id,advertising_id,idfa,imei,serial_number,mac_address,ip_address",
                                              DOM_IDENTITY_REFUSE};
static dom_data_class_t scrub_class;

static volatile size_t sink;

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts); /* CPU time: the machine may be shared */
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* A crash report of about `target` bytes: app fields, a user object, then stack frames. identity: 0 none, 1 one
 * field in the last frame, 2 in the user object and in every frame. */
static char *report(size_t target, int identity, size_t *len)
{
    size_t cap = target + 4096, n = 0;
    char *s = malloc(cap);
    n += (size_t)snprintf(s + n, cap - n,
                          "{\"app\":\"notes\",\"version\":\"4.2.1\",\"build\":48213,\"os\":{\"name\":\"android\","
                          "\"version\":\"14\",\"locale\":\"de-DE\"},\"user\":{%s\"plan\":\"free\",\"session_s\":321},"
                          "\"signal\":\"SIGSEGV\",\"frames\":[",
                          identity == 2 ? "\"email\":\"someone@example.com\"," : "");
    for (int i = 0; n < target - 200; ++i)
        n += (size_t)snprintf(
            s + n, cap - n,
            "%s{\"fn\":\"sync_worker_%d\",\"file\":\"src/sync/worker.c\",\"line\":%d,\"pc\":\"0x7f3a%08x\""
            "%s}",
            i ? "," : "", i, 100 + i, (unsigned)i * 2654435761u, identity == 2 ? ",\"deviceId\":\"D-1234\"" : "");
    if (identity == 1)
        n += (size_t)snprintf(s + n, cap - n, ",{\"fn\":\"last\",\"device_id\":\"D-1\"}");
    n += (size_t)snprintf(s + n, cap - n, "]}");
    *len = n;
    return s;
}

typedef int (*body_fn)(const dom_data_class_t *cls, int anonymize, const char *body, size_t len);

static int run_check(const dom_data_class_t *cls, int anonymize, const char *body, size_t len)
{
    dom_body_input_t in = {.data = body, .len = len, .content_type = {"application/json", 16}};
    dom_body_verdict_t v;
    dom_body_check(cls, anonymize, &in, &v);
    int status = v.status;
    sink += v.body_len;
    dom_body_verdict_free(&v);
    return status;
}

static int run_memcpy(const dom_data_class_t *cls, int anonymize, const char *body, size_t len)
{
    static char copy[128 * 1024];
    memcpy(copy, body, len);
    sink += (size_t)copy[len / 2];
    return 0;
}

static int run_parse(const dom_data_class_t *cls, int anonymize, const char *body, size_t len)
{
    json_t *j = json_loadb(body, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL);
    sink += j != NULL;
    json_decref(j);
    return 0;
}

/* The lowest over ROUNDS of the mean CPU ns per call, each round `seconds` / ROUNDS long: on a shared machine the
 * other processes only ever add (cache misses, frequency), so the least disturbed round is the closest estimate. */
static double measure(body_fn fn, const dom_data_class_t *cls, int anonymize, const char *body, size_t len,
                      double seconds)
{
    double best = 0;
    for (int k = 0; k < ROUNDS; ++k) {
        size_t calls = 0;
        double start = now_ns(), end = start + seconds * 1e9 / ROUNDS, t;
        do {
            for (int i = 0; i < 16; ++i)
                fn(cls, anonymize, body, len);
            calls += 16;
        } while ((t = now_ns()) < end);
        double mean = (t - start) / (double)calls;
        if (k == 0 || mean < best)
            best = mean;
    }
    return best;
}

/* --calls N PATH BYTES: only that path, N times, for `valgrind --tool=callgrind --collect-atstart=no
 * --toggle-collect=dom_body_check` (instructions per body, independent of the machine's load). */
static int calls_only(size_t calls, const char *path, size_t bytes)
{
    size_t len;
    int identity = strcmp(path, "refuse") == 0 ? 1 : strcmp(path, "scrub") == 0 ? 2 : 0;
    char *body = report(bytes, identity, &len);
    const dom_data_class_t *cls = identity == 2 ? &scrub_class : &refuse_class;
    int anonymize = strcmp(path, "json") != 0;
    for (size_t i = 0; i < calls; ++i)
        run_check(cls, anonymize, body, len);
    printf("%s %zu bytes x %zu\n", path, len, calls);
    free(body);
    return 0;
}

int main(int argc, char **argv)
{
    scrub_class = refuse_class;
    scrub_class.identity = DOM_IDENTITY_SCRUB;
    if (argc == 5 && strcmp(argv[1], "--calls") == 0)
        return calls_only((size_t)atol(argv[2]), argv[3], (size_t)atol(argv[4]));
    double seconds = argc > 1 ? atof(argv[1]) : 0.3;
    if (seconds <= 0)
        seconds = 0.3;
    static const size_t sizes[] = {1024, 4096, 16384, 65536};
    printf("%-8s %8s %12s %10s %10s %10s %12s\n", "path", "bytes", "ns/body", "ns/KiB", "x memcpy", "x parse",
           "% of POST");
    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); ++s) {
        size_t len0, len1, len2;
        char *clean = report(sizes[s], 0, &len0), *one = report(sizes[s], 1, &len1), *many = report(sizes[s], 2, &len2);
        /* the paths must do what they are named for */
        if (run_check(&refuse_class, 1, clean, len0) != 0 || run_check(&refuse_class, 1, one, len1) != 422 ||
            run_check(&scrub_class, 1, many, len2) != 0 || run_check(&refuse_class, 1, many, len2) != 422) {
            fprintf(stderr, "scrub: a generated report is not decided as expected\n");
            return 1;
        }
        double copy = measure(run_memcpy, NULL, 0, clean, len0, seconds);
        double parse = measure(run_parse, NULL, 0, clean, len0, seconds);
        struct {
            const char *name;
            const dom_data_class_t *cls;
            int anonymize;
            const char *body;
            size_t len;
        } paths[] = {
            {"json", &refuse_class, 0, clean, len0},
            {"clean", &refuse_class, 1, clean, len0},
            {"refuse", &refuse_class, 1, one, len1},
            {"scrub", &scrub_class, 1, many, len2},
        };
        printf("%-8s %8zu %12.0f %10.0f %10s %10s %12s\n", "memcpy", len0, copy, copy * 1024 / (double)len0, "1.00", "",
               "");
        printf("%-8s %8zu %12.0f %10.0f %10.1f %10s %11.1f%%\n", "parse", len0, parse, parse * 1024 / (double)len0,
               parse / copy, "1.00", 100 * parse / POST_BUDGET_NS);
        for (size_t p = 0; p < sizeof(paths) / sizeof(paths[0]); ++p) {
            double ns = measure(run_check, paths[p].cls, paths[p].anonymize, paths[p].body, paths[p].len, seconds);
            printf("%-8s %8zu %12.0f %10.0f %10.1f %10.2f %11.1f%%\n", paths[p].name, paths[p].len, ns,
                   ns * 1024 / (double)paths[p].len, ns / copy, ns / parse, 100 * ns / POST_BUDGET_NS);
        }
        printf("\n");
        free(clean);
        free(one);
        free(many);
    }
    return 0;
}

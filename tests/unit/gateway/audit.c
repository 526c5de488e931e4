/* tests src/gateway/audit.c: address privacy, the JSON line, the rings and the writer, dropped lines. */
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include "gateway/audit.c"
#include "test.h"

static void test_addresses(void)
{
    dom_addr_t v4, v6;
    dom_addr_parse("203.0.113.77", 12, &v4);
    dom_addr_parse("2001:db8:1234:5678::1", 21, &v6);
    char buf[64];
    dom__audit_options_t o = {0};
    ok(dom__audit_format_addr(&o, &v4, buf, sizeof(buf)) > 0);
    is_str(buf, "203.0.113.0/24");
    ok(dom__audit_format_addr(&o, &v6, buf, sizeof(buf)) > 0);
    is_str(buf, "2001:db8:1234::/48");
    o.ipv4_prefix = 16;
    o.ipv6_prefix = 32;
    dom__audit_format_addr(&o, &v4, buf, sizeof(buf));
    is_str(buf, "203.0.0.0/16");
    dom__audit_format_addr(&o, &v6, buf, sizeof(buf));
    is_str(buf, "2001:db8::/32");
    o.addr_mode = DOM_AUDIT_ADDR_FULL;
    dom__audit_format_addr(&o, &v4, buf, sizeof(buf));
    is_str(buf, "203.0.113.77");
    o.addr_mode = DOM_AUDIT_ADDR_NONE;
    is_int(dom__audit_format_addr(&o, &v4, buf, sizeof(buf)), 0);
    o.addr_mode = DOM_AUDIT_ADDR_HASH;
    o.hash_key = (const unsigned char *)"0123456789abcdef";
    o.hash_key_len = 16;
    char h1[64], h2[64];
    is_int(dom__audit_format_addr(&o, &v4, h1, sizeof(h1)), 34);
    ok(strncmp(h1, "h:", 2) == 0 && strstr(h1, "203") == NULL);
    o.hash_key = (const unsigned char *)"fedcba9876543210";
    dom__audit_format_addr(&o, &v4, h2, sizeof(h2));
    ok(strcmp(h1, h2) != 0); /* keyed: another key, another value */
}

static void test_line(void)
{
    dom__audit_options_t o = {0};
    dom_addr_t a;
    dom_addr_parse("198.51.100.9", 12, &a);
    dom__audit_record_t r = {.time_us = 1767225600123456,
                             .request_id = "abc",
                             .client = &a,
                             .country = "DE",
                             .subdivision = "",
                             .jurisdiction = "EU\"GDPR",
                             .action = "route",
                             .status = 200,
                             .write = 1,
                             .region = "eu-central",
                             .bytes_in = 5};
    char buf[4096];
    size_t n = dom__audit_format(&o, &r, buf, sizeof(buf));
    ok(n > 0 && buf[n - 1] == '\n');
    buf[n] = '\0';
    ok(strstr(buf, "\"time\":\"2026-01-01T00:00:00.123456Z\"") != NULL);
    ok(strstr(buf, "\"client\":\"198.51.100.0/24\"") != NULL);
    ok(strstr(buf, "198.51.100.9") == NULL);
    ok(strstr(buf, "\"jurisdiction\":\"EU\\\"GDPR\"") != NULL);
    ok(strstr(buf, "\"subdivision\":null") != NULL);
    ok(strstr(buf, "\"access\":\"write\"") != NULL);
    is_int(dom__audit_format(&o, &r, buf, 40), 0); /* does not fit: nothing, never a cut line */
    ok(strstr(buf, "\"joined\"") == NULL);         /* one jurisdiction decided: no joined field */

    /* conflicts of law: the pin's jurisdiction joined the place's */
    dom_jurisdiction_t ru = {.name = "RU-152FZ", .version = "2026-01"};
    const dom_jurisdiction_t *joined[] = {&ru};
    const dom_jurisdiction_source_t sources[] = {DOM_JSRC_PIN};
    r.joined = joined;
    r.joined_source = sources;
    r.n_joined = 1;
    n = dom__audit_format(&o, &r, buf, sizeof(buf));
    ok(n > 0);
    buf[n] = '\0';
    ok(strstr(buf, "\"joined\":[{\"jurisdiction\":\"RU-152FZ\",\"rule_version\":\"2026-01\",\"source\":\"pin\"}]") !=
       NULL);
}

static size_t lines_in(const char *path)
{
    FILE *fp = fopen(path, "r");
    size_t n = 0;
    int c;
    while (fp != NULL && (c = fgetc(fp)) != EOF)
        n += c == '\n';
    if (fp != NULL)
        fclose(fp);
    return n;
}

static void test_writer(void)
{
    char dir[] = "/tmp/dom-audit-XXXXXX", path[128], rotated[128];
    ok(mkdtemp(dir) != NULL);
    snprintf(path, sizeof(path), "%s/audit.log", dir);
    snprintf(rotated, sizeof(rotated), "%s/audit.log.1", dir);
    dom__audit_options_t o = {.path = path, .buffer_size = 4096, .flush_ms = 10};
    dom__audit_t *a = NULL;
    char err[256] = "";
    is_int(dom__audit_open(&o, 2, &a, err, sizeof(err)), 0);
    dom__audit_record_t r = {.request_id = "x", .action = "route", .status = 200};
    for (int i = 0; i < 10; ++i)
        dom__audit_log(a, (size_t)(i % 2), &r);
    /* the writer drains within its interval: wait for it (bounded) */
    uint64_t lines = 0, dropped = 0, reopens = 0;
    int okflag = 0;
    for (int i = 0; i < 500 && lines < 10; ++i) {
        dom__audit_stats(a, &lines, &dropped, &reopens, &okflag);
        usleep(2000);
    }
    is_int(lines, 10);
    rename(path, rotated);
    dom__audit_reopen(a);
    for (int i = 0; i < 500 && reopens < 1; ++i) {
        dom__audit_stats(a, NULL, NULL, &reopens, NULL);
        usleep(2000);
    }
    is_int(reopens, 1);
    dom__audit_log(a, 0, &r);
    /* a burst bigger than the 4 KiB ring: some lines are dropped and counted, none block */
    for (int i = 0; i < 200; ++i)
        dom__audit_log(a, 1, &r);
    dom__audit_stats(a, &lines, &dropped, NULL, NULL);
    ok(dropped > 0);
    dom__audit_close(a);
    is_int(lines_in(rotated), 10);
    is_int(lines_in(path) + dropped, 201);

    /* unwritable file at open: a clear error */
    o.path = "/nonexistent-dir/audit.log";
    ok(dom__audit_open(&o, 1, &a, err, sizeof(err)) == DOM_EIO && a == NULL && strstr(err, "cannot open") != NULL);
    o.path = path;
    o.addr_mode = DOM_AUDIT_ADDR_HASH;
    is_int(dom__audit_open(&o, 1, &a, err, sizeof(err)), DOM_EINVAL);
    dom__audit_close(NULL);
    unlink(path);
    unlink(rotated);
    rmdir(dir);
}

static void test_disk_full(void)
{
    /* /dev/full: every write fails with ENOSPC; lines are dropped and counted, ok flag goes 0 */
    dom__audit_options_t o = {.path = "/dev/full", .flush_ms = 10};
    dom__audit_t *a = NULL;
    char err[256];
    if (dom__audit_open(&o, 1, &a, err, sizeof(err)) != 0) {
        ok(1); /* no /dev/full in this sandbox */
        return;
    }
    dom__audit_record_t r = {.request_id = "x", .action = "route", .status = 200};
    for (int i = 0; i < 5; ++i)
        dom__audit_log(a, 0, &r);
    uint64_t dropped = 0;
    int okflag = 1;
    for (int i = 0; i < 500 && dropped < 5; ++i) {
        dom__audit_stats(a, NULL, &dropped, NULL, &okflag);
        usleep(2000);
    }
    is_int(dropped, 5);
    is_int(okflag, 0);
    dom__audit_close(a);
}

int main(void)
{
    subtest("client addresses", test_addresses);
    subtest("one JSON line", test_line);
    subtest("rings, writer, reopen, drops", test_writer);
    subtest("disk full", test_disk_full);
    return done_testing();
}

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
    is_int(lines_in(rotated), 11); /* the writer's open line, then the 10 */
    is_int(lines_in(path) - 1 + dropped, 201);

    /* unwritable file at open: a clear error */
    o.path = "/nonexistent-dir/audit.log";
    ok(dom__audit_open(&o, 1, &a, err, sizeof(err)) == DOM_EIO && a == NULL && strstr(err, "cannot open") != NULL);
    o.path = path;
    o.addr_mode = DOM_AUDIT_ADDR_HASH;
    is_int(dom__audit_open(&o, 1, &a, err, sizeof(err)), DOM_EINVAL);
    dom__audit_close(NULL);
    unlink(path);
    unlink(rotated);
    snprintf(path, sizeof(path), "%s/audit.log.chain", dir);
    unlink(path);
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

static void test_seal_parse(void)
{
    dom_pin_key_t secret = {.kid = "k1", .secret_len = 16};
    memcpy(secret.secret, "0123456789abcdef", 16);
    dom_auditlog_key_t key, other;
    is_int(dom_auditlog_key_derive(&secret, &key), DOM_OK);
    secret.secret[0] = 'x';
    dom_auditlog_key_derive(&secret, &other);
    ok(memcmp(key.key, other.key, 32) != 0 && memcmp(key.key, secret.secret, 16) != 0); /* derived, keyed */
    dom_auditlog_link_t link;
    dom_auditlog_genesis(&link);
    char l1[512], l2[512], h[65];
    const char *body = "{\"method\":\"PUT\",\"class\":\"content\",\"region\":\"eu-central\"";
    size_t n1 = dom_auditlog_seal(&link, body, strlen(body), NULL, l1, sizeof(l1));
    ok(n1 > 0 && l1[n1 - 1] == '\n');
    l1[n1] = '\0';
    ok(strstr(l1, ",\"seq\":1,\"prev\":\"0000000000000000000000000000000000000000000000000000000000000000\"}\n") !=
       NULL);
    dom_auditlog_hash(l1, n1 - 1, h); /* without the newline */
    is_str(link.hash, h);
    is_int(link.seq, 1);
    const char *cp = "{\"type\":\"checkpoint\",\"lines\":1,\"dropped\":0";
    size_t n2 = dom_auditlog_seal(&link, cp, strlen(cp), &key, l2, sizeof(l2));
    l2[n2] = '\0';
    dom_auditlog_line_t p1, p2;
    is_int(dom_auditlog_parse(l1, n1, &p1), DOM_OK);
    ok(p1.kind == DOM_AUDITLOG_REQUEST && p1.chained && p1.seq == 1);
    is_str(p1.region, "eu-central");
    is_str(p1.class_name, "content");
    is_int(dom_auditlog_parse(l2, n2, &p2), DOM_OK);
    ok(p2.kind == DOM_AUDITLOG_CHECKPOINT && p2.seq == 2 && p2.lines == 1);
    is_str(p2.prev, h);
    is_str(p2.kid, "k1");
    is_int(dom_auditlog_check_mac(l2, &p2, &key, 1), DOM_OK);
    is_int(dom_auditlog_check_mac(l2, &p2, &other, 1), DOM_EINVAL); /* same kid, another secret */
    strcpy(other.kid, "k2");
    is_int(dom_auditlog_check_mac(l2, &p2, &other, 1), DOM_ENOTFOUND);
    /* an edit anywhere before the MAC breaks it */
    char *at = strstr(l2, "\"lines\":1");
    at[8] = '2';
    is_int(dom_auditlog_parse(l2, n2, &p2), DOM_OK);
    is_int(dom_auditlog_check_mac(l2, &p2, &key, 1), DOM_EINVAL);
    is_int(dom_auditlog_seal(&link, body, strlen(body), NULL, l1, 100), 0); /* does not fit: nothing, link kept */
    is_int(link.seq, 2);
    /* what is not a chained line */
    const char *bad[] = {"",
                         "{",
                         "[1]",
                         "{\"seq\":-1,\"prev\":null}",
                         "{\"seq\":1.5}",
                         "{\"prev\":\"abc\"}",
                         "{\"region\":7}",
                         "{\"status\":\"200\"}",
                         "{} x"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); ++i)
        if (!ok(dom_auditlog_parse(bad[i], strlen(bad[i]), &p1) == DOM_EINVAL))
            printf("#   accepted: %s\n", bad[i]);
    is_int(dom_auditlog_parse("{\"time\":\"t\"}", 12, &p1), DOM_OK);
    ok(!p1.chained); /* a line of the format before the chain */
}

/* Every line of the files in order: parsed, chained to the one before, seq one more. Returns the lines. */
static size_t check_chain(const char *const *files, size_t n_files, const dom_auditlog_key_t *key, char *opens,
                          size_t openslen)
{
    dom_auditlog_link_t want;
    dom_auditlog_genesis(&want);
    size_t lines = 0, broken = 0, checkpoints = 0;
    opens[0] = '\0';
    for (size_t f = 0; f < n_files; ++f) {
        FILE *fp = fopen(files[f], "r");
        char *line = NULL;
        size_t cap = 0;
        ssize_t n;
        while (fp != NULL && (n = getline(&line, &cap, fp)) > 0) {
            dom_auditlog_line_t l;
            ++lines;
            if (dom_auditlog_parse(line, (size_t)n, &l) != DOM_OK || !l.chained || l.seq != want.seq + 1 ||
                strcmp(l.prev, want.hash) != 0) {
                printf("#   %s: line %zu breaks the chain: %s", files[f], lines, line);
                ++broken;
            }
            if (l.kind == DOM_AUDITLOG_OPEN)
                snprintf(opens + strlen(opens), openslen - strlen(opens), "%s%s", opens[0] ? "," : "", l.chain_from);
            if (l.kind == DOM_AUDITLOG_CHECKPOINT)
                checkpoints += dom_auditlog_check_mac(line, &l, key, 1) == DOM_OK;
            want.seq = l.seq;
            memcpy(want.hash, l.hash, 65);
        }
        free(line);
        if (fp != NULL)
            fclose(fp);
    }
    is_int(broken, 0);
    ok(checkpoints > 0);
    return lines;
}

static void log_and_wait(dom__audit_t *a, int n)
{
    dom__audit_record_t r = {.request_id = "x", .action = "route", .status = 200, .region = "eu-central"};
    uint64_t before = 0, lines = 0;
    dom__audit_stats(a, &before, NULL, NULL, NULL);
    for (int i = 0; i < n; ++i)
        dom__audit_log(a, 0, &r);
    for (int i = 0; i < 1000 && lines < before + (uint64_t)n; ++i) {
        dom__audit_stats(a, &lines, NULL, NULL, NULL);
        usleep(2000);
    }
    is_int(lines, before + (uint64_t)n);
}

/* The chain goes on across a SIGUSR1 reopen after a rotation, a restart on the same file, a restart after the
 * file was rotated away while the gateway was down, and a restart after lines were cut from the file's end. */
static void test_continuity(void)
{
    char dir[] = "/tmp/dom-chain-XXXXXX", path[128], f1[128], f2[128], f3[128], state[128];
    ok(mkdtemp(dir) != NULL);
    snprintf(path, sizeof(path), "%s/audit.log", dir);
    snprintf(f1, sizeof(f1), "%s/audit.log.1", dir);
    snprintf(f2, sizeof(f2), "%s/audit.log.2", dir);
    snprintf(f3, sizeof(f3), "%s/audit.log.3", dir);
    snprintf(state, sizeof(state), "%s/audit.log.chain", dir);
    dom_pin_key_t secret = {.kid = "audit1", .secret_len = 16};
    memcpy(secret.secret, "fedcba9876543210", 16);
    dom_auditlog_key_t key;
    dom_auditlog_key_derive(&secret, &key);
    dom__audit_options_t o = {
        .path = path, .flush_ms = 5, .instance = "gw-test", .checkpoint_key = &key, .checkpoint_lines = 3};
    dom__audit_t *a = NULL;
    char err[256] = "", opens[256];
    is_int(dom__audit_open(&o, 1, &a, err, sizeof(err)), 0);
    log_and_wait(a, 5);
    rename(path, f1); /* logrotate, then SIGUSR1 */
    dom__audit_reopen(a);
    uint64_t reopens = 0;
    for (int i = 0; i < 1000 && reopens < 1; ++i) {
        dom__audit_stats(a, NULL, NULL, &reopens, NULL);
        usleep(2000);
    }
    log_and_wait(a, 2);
    dom__audit_close(a);
    is_int(dom__audit_open(&o, 1, &a, err, sizeof(err)), 0); /* restart: the same file goes on */
    log_and_wait(a, 1);
    dom__audit_close(a);
    rename(path, f2); /* rotated away while the gateway was down: the state file links the next file */
    is_int(dom__audit_open(&o, 1, &a, err, sizeof(err)), 0);
    log_and_wait(a, 1);
    dom__audit_close(a);
    const char *files[] = {f1, f2, path};
    size_t lines = check_chain(files, 3, &key, opens, sizeof(opens));
    is_str(opens, "none,memory,file,state");
    /* 5 + 2 + 1 + 1 requests, 4 open lines, checkpoints every 3 lines and at each reopen and stop */
    ok(lines >= 13);

    /* the last two lines cut from the file while the gateway is down: the state file is further on, so the next
     * open line links to what was written, and says where the file now ends */
    rename(path, f3);
    FILE *fp = fopen(f3, "r+");
    char buf[8192];
    size_t n = fread(buf, 1, sizeof(buf), fp), cut = n - 1;
    for (int k = 0; k < 2; ++k)
        while (cut > 0 && buf[cut - 1] != '\n')
            --cut;
    ok(cut > 0 && ftruncate(fileno(fp), (off_t)cut) == 0);
    fclose(fp);
    rename(f3, path);
    is_int(dom__audit_open(&o, 1, &a, err, sizeof(err)), 0);
    dom__audit_close(a);
    fp = fopen(path, "r");
    n = fread(buf, 1, sizeof(buf) - 1, fp);
    fclose(fp);
    buf[n] = '\0';
    ok(strstr(buf + cut, "\"chain_from\":\"state\"") != NULL && strstr(buf + cut, "\"file_ends_at_seq\":") != NULL);
    dom_auditlog_link_t st;
    is_int(dom_auditlog_state_read(state, &st), 1);
    ok(st.seq > (uint64_t)lines);
    unlink(path);
    unlink(f1);
    unlink(f2);
    unlink(state);
    rmdir(dir);
}

int main(void)
{
    subtest("client addresses", test_addresses);
    subtest("one JSON line", test_line);
    subtest("rings, writer, reopen, drops", test_writer);
    subtest("disk full", test_disk_full);
    subtest("sealed lines, parsed back, checkpoint MACs", test_seal_parse);
    subtest("the chain across reopen, restart, rotation and truncation", test_continuity);
    return done_testing();
}

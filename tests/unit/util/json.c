/* Tests src/util/json.c: escaping (quotes, controls, UTF-8 kept or replaced), numbers, and the three sinks. */
#include <math.h>
#include <stdlib.h>
#include "test.h"
#include "util/json.h"

/* The JSON of n bytes as a string, in a static buffer. */
static const char *str_of(const char *s, size_t n)
{
    static char out[512];
    dom__json_t j = dom__json_fixed(out, sizeof(out) - 1);
    dom__json_strn(&j, s, n);
    out[j.len < sizeof(out) ? j.len : sizeof(out) - 1] = '\0';
    return out;
}

#define STR(lit) str_of(lit, sizeof(lit) - 1)

static void test_escaping(void)
{
    is_str(STR("plain"), "\"plain\"");
    is_str(STR(""), "\"\"");
    is_str(STR("a\"b\\c"), "\"a\\\"b\\\\c\"");
    is_str(STR("/"), "\"/\""); /* no need to escape the solidus */
    is_str(STR("\x01\n\t\x1f\x7f"), "\"\\u0001\\u000a\\u0009\\u001f\\u007f\"");
    is_str(STR("a\0b"), "\"a\\u0000b\"");
    dom__json_t j;
    char buf[16];
    j = dom__json_fixed(buf, sizeof(buf));
    dom__json_str(&j, NULL);
    is_int(j.len, 4);
    ok(memcmp(buf, "null", 4) == 0);
}

static void test_utf8(void)
{
    /* well-formed: passed through, 2, 3 and 4 bytes, the edges of each range */
    is_str(STR("caf\xc3\xa9"), "\"caf\xc3\xa9\"");
    is_str(STR("\xe2\x82\xac"), "\"\xe2\x82\xac\"");
    is_str(STR("\xf0\x9f\x98\x80"), "\"\xf0\x9f\x98\x80\"");
    is_str(STR("\xc2\x80\xdf\xbf"), "\"\xc2\x80\xdf\xbf\"");
    is_str(STR("\xe0\xa0\x80\xef\xbf\xbf"), "\"\xe0\xa0\x80\xef\xbf\xbf\"");
    is_str(STR("\xf0\x90\x80\x80\xf4\x8f\xbf\xbf"), "\"\xf0\x90\x80\x80\xf4\x8f\xbf\xbf\"");
    /* ill-formed: every byte that starts no valid sequence becomes U+FFFD */
    is_str(STR("\xc0\x80"), "\"\\ufffd\\ufffd\"");                       /* overlong NUL */
    is_str(STR("\xe0\x80\xaf"), "\"\\ufffd\\ufffd\\ufffd\"");            /* overlong '/' */
    is_str(STR("\xed\xa0\x80"), "\"\\ufffd\\ufffd\\ufffd\"");            /* a surrogate */
    is_str(STR("\xf4\x90\x80\x80"), "\"\\ufffd\\ufffd\\ufffd\\ufffd\""); /* above U+10FFFF */
    is_str(STR("\x80x"), "\"\\ufffdx\"");                                /* a lone continuation byte */
    is_str(STR("\xff\xfe"), "\"\\ufffd\\ufffd\"");
    is_str(STR("ok\xe2\x82"), "\"ok\\ufffd\\ufffd\""); /* cut at the end of the value */
    /* a sequence cut by the length, not by a NUL: never read past n */
    is_str(str_of("\xe2\x82\xac", 2), "\"\\ufffd\\ufffd\"");
}

static void test_numbers(void)
{
    char buf[128];
    dom__json_t j = dom__json_fixed(buf, sizeof(buf));
    dom__json_u64(&j, UINT64_MAX);
    dom__json_lit(&j, ",");
    dom__json_i64(&j, INT64_MIN);
    dom__json_lit(&j, ",");
    dom__json_f64(&j, 12.345, 1);
    dom__json_lit(&j, ",");
    dom__json_f64(&j, NAN, 1);
    dom__json_lit(&j, ",");
    dom__json_f64(&j, INFINITY, 1);
    dom__json_lit(&j, ",");
    dom__json_bool(&j, 1);
    dom__json_lit(&j, ",");
    dom__json_bool(&j, 0);
    dom__json_lit(&j, ",");
    dom__json_null(&j);
    dom__json_rawf(&j, ",%d", -7);
    buf[j.len] = '\0';
    is_str(buf, "18446744073709551615,-9223372036854775808,12.3,null,null,true,false,null,-7");
    ok(!dom__json_failed(&j));
}

static void test_fixed_overflow(void)
{
    char buf[12];
    memset(buf, '#', sizeof(buf));
    dom__json_t j = dom__json_fixed(buf, 8);
    dom__json_lit(&j, "{\"a\":");
    dom__json_str(&j, "long value");
    dom__json_lit(&j, "}");
    /* len says what the whole needs; the buffer holds a prefix and nothing past cap is written */
    is_int(j.len, 5 + 12 + 1);
    ok(dom__json_failed(&j));
    ok(memcmp(buf, "{\"a\":\"", 6) == 0);
    ok(buf[8] == '#' && buf[11] == '#');
    /* exactly full is not a failure */
    j = dom__json_fixed(buf, 4);
    dom__json_lit(&j, "true");
    ok(!dom__json_failed(&j));
    /* the retry the callers make: a buffer of len bytes holds it all */
    char *big = malloc(18);
    j = dom__json_fixed(big, 18);
    dom__json_lit(&j, "{\"a\":");
    dom__json_str(&j, "long value");
    dom__json_lit(&j, "}");
    ok(!dom__json_failed(&j) && j.len == 18 && memcmp(big, "{\"a\":\"long value\"}", 18) == 0);
    free(big);
}

static void test_sinks(void)
{
    dom__text_t t = {0};
    dom__json_t j = dom__json_text(&t);
    for (int i = 0; i < 2000; ++i) /* grows past its first 4 KiB */
        dom__json_str(&j, "\xc3\xa9");
    is_int(t.len, 2000 * 4);
    is_int(j.len, t.len);
    ok(t.base[t.len] == '\0');
    ok(!dom__json_failed(&j));
    dom__text_free(&t);

    char *mem = NULL;
    size_t memlen = 0;
    FILE *fp = open_memstream(&mem, &memlen);
    j = dom__json_file(fp);
    dom__json_str(&j, "x\"y");
    dom__json_lit(&j, ":");
    dom__json_u64(&j, 42);
    ok(!dom__json_failed(&j));
    fclose(fp);
    is_str(mem, "\"x\\\"y\":42");
    free(mem);
}

int main(void)
{
    subtest("escaping", test_escaping);
    subtest("UTF-8 kept or replaced", test_utf8);
    subtest("numbers, booleans, null", test_numbers);
    subtest("a fixed buffer that is too small", test_fixed_overflow);
    subtest("growable text and FILE", test_sinks);
    return done_testing();
}

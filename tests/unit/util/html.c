/* Tests src/util/html.c: markup characters, controls and ill-formed UTF-8 come out as text. */
#include <string.h>
#include "test.h"
#include "util/html.h"

static char out[512];

static const char *esc_n(const char *s, size_t n)
{
    dom__text_t t = {0};
    dom__html_escape_n(&t, s, n);
    snprintf(out, sizeof(out), "%s", t.base != NULL ? t.base : "");
    dom__text_free(&t);
    return out;
}

#define esc(s) esc_n((s), strlen(s))

static void test_markup(void)
{
    is_str(esc("plain text"), "plain text");
    is_str(esc("<script>alert(1)</script>"), "&lt;script&gt;alert(1)&lt;/script&gt;");
    is_str(esc("a & b"), "a &amp; b");
    is_str(esc("\" onmouseover='x'"), "&quot; onmouseover=&#39;x&#39;");
    is_str(esc(""), "");
    dom__text_t t = {0};
    dom__html_escape(&t, NULL); /* nothing, no crash */
    ok(t.len == 0);
    dom__html_printf(&t, "%d <%s>", 451, "b");
    is_str(t.base, "451 &lt;b&gt;");
    dom__text_free(&t);
}

static void test_bytes(void)
{
    is_str(esc("tab\tand\nnewline"), "tab\tand\nnewline");
    is_str(esc("cr\rbell\a"), "cr\xef\xbf\xbd"
                              "bell\xef\xbf\xbd");
    is_str(esc_n("nul\0x", 5), "nul\xef\xbf\xbdx");
    is_str(esc("M\xc3\xbcnchen \xe2\x82\xac"), "M\xc3\xbcnchen \xe2\x82\xac"); /* well-formed UTF-8 passes */
    is_str(esc("\xc0\xbc"), "\xef\xbf\xbd\xef\xbf\xbd");                       /* overlong '<': two bad bytes */
    is_str(esc("\xed\xa0\x80"), "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");       /* a surrogate */
    is_str(esc("cut \xe2\x82"), "cut \xef\xbf\xbd\xef\xbf\xbd");               /* a sequence cut short */
    is_str(esc("\x7f"), "\xef\xbf\xbd");
}

int main(void)
{
    subtest("markup characters", test_markup);
    subtest("controls and UTF-8", test_bytes);
    return done_testing();
}

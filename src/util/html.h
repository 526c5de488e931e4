/*
 * HTML text for the pages domicile writes itself (`rules report`, the admin listener's status
 * page and decision explorer): one escaper, so every byte that came from a rule file, a config,
 * a client or a form reaches the page as text, never as markup.
 */
#ifndef DOM_UTIL_HTML_H
#define DOM_UTIL_HTML_H

#include <stddef.h>
#include "util/text.h"

/**
 * Appends n bytes of s as HTML text, safe in element content and in a quoted attribute value:
 * & < > " ' as character references, control bytes (but tab and newline) as U+FFFD, and each
 * byte of ill-formed UTF-8 as U+FFFD, so the page stays valid UTF-8 whatever the input.
 */
void dom__html_escape_n(dom__text_t *t, const char *s, size_t n);

/** The same for a NUL-terminated string; NULL appends nothing. */
void dom__html_escape(dom__text_t *t, const char *s);

/** Appends formatted text, escaped as a whole (for numbers and names mixed with words). */
void dom__html_printf(dom__text_t *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif

/*
 * The one JSON writer: refusal bodies, audit lines, /status, and the CLI's --json output.
 * It writes values (strings, numbers, booleans, null) and raw punctuation into a fixed
 * buffer, a growable text or a FILE*. Strings are escaped one way everywhere: `"` and `\`
 * with a backslash, control bytes and DEL as \u00XX, well-formed UTF-8 passed through, and
 * each byte of ill-formed UTF-8 (overlongs, surrogates, > U+10FFFF, cut sequences) as \ufffd,
 * so the output is always valid JSON in valid UTF-8 whatever the input bytes.
 */
#ifndef DOM_UTIL_JSON_H
#define DOM_UTIL_JSON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "util/text.h"

/** Where a JSON writer writes; make one with dom__json_fixed, dom__json_text or dom__json_file. */
typedef struct dom__json {
    enum { DOM__JSON_FIXED, DOM__JSON_TEXT, DOM__JSON_FILE } kind;
    char *buf; /* FIXED: the caller's buffer of cap bytes (not NUL-terminated) */
    size_t cap;
    dom__text_t *text; /* TEXT */
    FILE *fp;          /* FILE */
    /* Bytes written. FIXED: bytes wanted, like snprintf's result; once more than cap, nothing more
     * is written (the buffer holds a prefix) and a caller may retry with a buffer of len bytes. */
    size_t len;
} dom__json_t;

/** A writer into buf[0..cap). */
dom__json_t dom__json_fixed(char *buf, size_t cap);
/** A writer appending to a growable text. */
dom__json_t dom__json_text(dom__text_t *t);
/** A writer onto a stream. */
dom__json_t dom__json_file(FILE *fp);

/** 1 if some output was lost: a fixed buffer too small, an allocation or a write that failed. */
int dom__json_failed(const dom__json_t *j);

/** Raw bytes, unescaped: punctuation and member names such as `,"status":`. */
void dom__json_raw(dom__json_t *j, const char *s, size_t n);
/** Raw NUL-terminated text. */
void dom__json_lit(dom__json_t *j, const char *s);
/** Raw formatted text. */
void dom__json_rawf(dom__json_t *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/** A string, escaped; NULL writes null. */
void dom__json_str(dom__json_t *j, const char *s);
/** n bytes as a string (NUL bytes included, as \u0000). */
void dom__json_strn(dom__json_t *j, const char *s, size_t n);
/** Numbers. */
void dom__json_u64(dom__json_t *j, uint64_t v);
void dom__json_i64(dom__json_t *j, int64_t v);
/** A number with `decimals` digits after the point ("%.1f"); NaN and infinities write null. */
void dom__json_f64(dom__json_t *j, double v, int decimals);
/** true / false; null. */
void dom__json_bool(dom__json_t *j, int v);
void dom__json_null(dom__json_t *j);

#endif

/*
 * Fuzzes the audit line reader (src/core/auditlog.c, and the one JSON reader under it): the input is
 * one line of an audit log as `domicile audit verify` and the gateway's restart (the file's last line)
 * read it. Besides "no crash, no UB", it checks what a caller relies on: every string field is
 * NUL-terminated within its buffer, the hash is always that of the bytes, a chained line's prev is 64
 * hex digits, and a checkpoint's MAC covers a prefix of the line; a line sealed again parses back with
 * the next seq and the prev it was given.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "domicile/auditlog.h"

static int terminated(const char *s, size_t n)
{
    return memchr(s, '\0', n) != NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* a copy of exactly size bytes, so ASan catches any read past the line's end */
    char *line = malloc(size > 0 ? size : 1);
    if (line == NULL)
        return 0;
    if (size > 0)
        memcpy(line, data, size);
    dom_auditlog_line_t l;
    int r = dom_auditlog_parse(line, size, &l);
    if (r != DOM_OK && r != DOM_EINVAL && r != DOM_ENOMEM)
        abort();
    if (r == DOM_OK) {
        char h[65];
        dom_auditlog_hash(line, size > 0 && line[size - 1] == '\n' ? size - 1 : size, h); /* parse drops one */
        if (strcmp(h, l.hash) != 0 || (l.chained && strlen(l.prev) != 64) || l.mac_at > size)
            abort();
        if (!terminated(l.time, sizeof(l.time)) || !terminated(l.region, sizeof(l.region)) ||
            !terminated(l.rule_hash, sizeof(l.rule_hash)) || !terminated(l.kid, sizeof(l.kid)))
            abort();
        dom_pin_key_t secret = {.kid = "k1", .secret_len = 16};
        dom_auditlog_key_t key;
        if (dom_auditlog_key_derive(&secret, &key) == DOM_OK) {
            int m = dom_auditlog_check_mac(line, &l, &key, 1);
            if (m != DOM_OK && m != DOM_EINVAL && m != DOM_ENOTFOUND && m != DOM_ENOMEM)
                abort();
        }
        /* an object seals again: its body without the closing brace, the chain appended */
        size_t end = size;
        while (end > 0 &&
               (line[end - 1] == '\n' || line[end - 1] == ' ' || line[end - 1] == '\t' || line[end - 1] == '\r'))
            --end;
        if (end > 1 && line[end - 1] == '}' && size < 8192) {
            char *out = malloc(end + DOM_AUDITLOG_SEAL_MAX);
            dom_auditlog_link_t link = {41, ""};
            memset(link.hash, 'a', 64);
            const char *before_brace = line + end - 2;
            while (before_brace > line && strchr(" \t\r\n", *before_brace) != NULL)
                --before_brace;
            /* only an object with members takes a comma after them */
            if (out != NULL && *before_brace != '{') {
                size_t n = dom_auditlog_seal(&link, line, end - 1, NULL, out, end + DOM_AUDITLOG_SEAL_MAX);
                dom_auditlog_line_t again;
                /* duplicate "seq"/"prev" members: the reader keeps the first, so only check lines without them */
                if (n > 0 && memmem(line, size, "\"seq\"", 5) == NULL && memmem(line, size, "\"prev\"", 6) == NULL &&
                    memchr(line, '\\', size) == NULL &&
                    (dom_auditlog_parse(out, n, &again) != DOM_OK || again.seq != 42 || !again.chained))
                    abort();
            }
            free(out);
        }
    }
    free(line);
    return 0;
}

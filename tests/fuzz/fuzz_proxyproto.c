/*
 * Fuzzes the PROXY protocol header parser (src/core/proxyproto.c), the first bytes the gateway
 * reads from a connection on a proxy_protocol listener. Besides "no crash, no UB", it checks what
 * the gateway's read loop relies on:
 *   - a complete header is at most DOM_PROXYPROTO_MAX bytes, within the input, and the same
 *     header whatever follows it (the parser never looks past it): parsing exactly its bytes gives
 *     the same length and addresses;
 *   - "need more" is only ever said below DOM_PROXYPROTO_MAX bytes (the read is bounded);
 *   - incremental agreement: a proper prefix of a complete header asks for more, and a prefix of
 *     input that asks for more or is complete never was refused (refusal is final: appending
 *     bytes to a refused input never makes it valid);
 *   - every refusal has a reason with a name and a message.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include "domicile/proxyproto.h"

static int parse_copy(const uint8_t *data, size_t n, dom_proxyproto_t *h, dom_proxyproto_reason_t *reason,
                      const char **why)
{
    /* exactly n bytes on the heap, so ASan catches a read past them */
    uint8_t *copy = malloc(n ? n : 1);
    if (copy == NULL)
        abort();
    memcpy(copy, data, n);
    int ret = dom_proxyproto_parse(copy, n, h, reason, why);
    free(copy);
    return ret;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dom_proxyproto_t h, again;
    dom_proxyproto_reason_t reason;
    const char *why;
    int ret = parse_copy(data, size, &h, &reason, &why);

    if (ret < 0) {
        if (ret != DOM_EINVAL || reason == DOM_PROXYPROTO_OK || reason >= DOM_PROXYPROTO_N_REASONS || why == NULL ||
            why[0] == '\0' || strcmp(dom_proxyproto_reason_name(reason), "unknown") == 0)
            abort();
        /* a refusal is final: the same bytes plus a longer tail are refused too (with the same reason) */
        uint8_t *longer = malloc(size + 64);
        if (longer == NULL)
            abort();
        memcpy(longer, data, size);
        memset(longer + size, '\n', 64);
        dom_proxyproto_reason_t r2;
        if (dom_proxyproto_parse(longer, size + 64, NULL, &r2, NULL) != DOM_EINVAL || r2 != reason)
            abort();
        free(longer);
        return 0;
    }
    if (ret == 0) {
        if (size >= DOM_PROXYPROTO_MAX)
            abort();
        return 0;
    }

    size_t n = (size_t)ret;
    if (n > size || n > DOM_PROXYPROTO_MAX || h.length != n || (h.version != 1 && h.version != 2))
        abort();
    if (h.version == 1 && n > DOM_PROXYPROTO_V1_MAX)
        abort();
    /* (families may differ: an IPv4-mapped IPv6 address is unmapped on its own) */
    if (!h.local && ((h.src.family != AF_INET && h.src.family != AF_INET6) ||
                     (h.dst.family != AF_INET && h.dst.family != AF_INET6)))
        abort();
    /* the header alone parses the same: nothing after it was looked at */
    if (parse_copy(data, n, &again, NULL, NULL) != ret || again.local != h.local || again.src_port != h.src_port ||
        again.dst_port != h.dst_port || (!h.local && memcmp(&again.src, &h.src, sizeof(h.src)) != 0))
        abort();
    /* proper prefixes ask for more (a few, to keep the fuzzer fast) */
    size_t cuts[3] = {n - 1, n / 2, 1};
    for (int i = 0; i < 3; ++i)
        if (cuts[i] < n && parse_copy(data, cuts[i], NULL, NULL, NULL) != 0)
            abort();
    return 0;
}

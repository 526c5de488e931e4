/*
 * HTTP/2 bounds inside libh2o (see h2limits.h). Each needs one of the project's patches to
 * Debian's h2o 2.2.5; each patch defines a H2O_HAS_* macro in h2o.h, so a build against the
 * unpatched library still compiles, runs without that bound, and says so at start.
 */
#include "gateway/h2limits.h"
#include <malloc.h>
#include "gateway/metrics.h"

/*
 * Request-body buffers grow by doubling and are freed when a stream ends or is refused. glibc's
 * dynamic mmap threshold would move such blocks onto the heap after the first few, where freed
 * ones stay in the process: RSS would then follow the worst fragmentation, not the budget. A fixed
 * threshold keeps every block from 128 KiB up in its own mapping, returned when freed.
 */
#define MMAP_THRESHOLD (128 * 1024)

#ifdef H2O_HAS_HTTP2_STREAM_RESET_HOOK
/*
 * HTTP/2 Rapid Reset (CVE-2023-44487): h2o runs a stream's handler and lets the client reset it at
 * once, as often as it likes. h2o counts, per connection, the streams the client opened and those
 * it reset while h2o still held them, and asks here after each reset: more than h2_max_resets
 * (read from the live settings, so SIGHUP changes it), and more than half of what the connection
 * asked, closes it (GOAWAY ENHANCE_YOUR_CALM) before the rest of that read is parsed.
 */
static int on_stream_reset(h2o_conn_t *conn, uint64_t num_resets, uint64_t num_streams)
{
    dom__worker_t *w = H2O_STRUCT_FROM_MEMBER(dom__worker_t, ctx, conn->ctx);
    unsigned limit = w->live->settings->config->limits.h2_max_resets;
    if (limit == 0 || num_resets <= limit || num_resets * 2 <= num_streams)
        return 0;
    DOM__COUNT(&w->metrics.h2_reset_connections);
    return 1;
}
#endif

__attribute__((unused)) static int missing(FILE *warn, const char *what)
{
    if (warn != NULL)
        fprintf(warn, "domicile: warning: libh2o was built without the project's patch for %s: that bound is off\n",
                what);
    return 1;
}

int dom__h2limits_apply(h2o_globalconf_t *gc, const dom_config_t *cfg, FILE *warn)
{
    int n = 0;
    mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD);
    /* HTTP/1.1's whole-request timeout; HTTP/2 request bodies get the same deadline below */
    gc->http1.req_timeout = cfg->limits.request_timeout_ms;
#ifdef H2O_HAS_HTTP2_HEADER_LIST_LIMIT
    gc->http2.max_request_header_list_size = cfg->limits.h2_max_header_list_size;
    gc->http2.max_request_headers = cfg->limits.h2_max_headers;
#else
    n += missing(warn, "the decoded header list (limits.h2_max_header_list_size, h2_max_headers)");
#endif
#ifdef H2O_HAS_HTTP2_CONTINUATION_LIMITS
    gc->http2.max_continuations = cfg->limits.h2_max_continuations;
    gc->http2.header_block_timeout = cfg->limits.h2_header_block_timeout_ms;
#else
    n += missing(warn, "CONTINUATION frames (limits.h2_max_continuations, h2_header_block_timeout)");
#endif
#ifdef H2O_HAS_HTTP2_REQUEST_BODY_TIMEOUT
    gc->http2.request_body_timeout = cfg->limits.request_timeout_ms;
#else
    n += missing(warn, "the HTTP/2 request-body deadline (limits.request_timeout)");
#endif
#ifdef H2O_HAS_HTTP2_REQUEST_BODY_BUDGET
    gc->http2.max_request_body_buffer_per_connection = cfg->limits.h2_body_buffer_per_connection;
    gc->http2.max_request_body_buffer = cfg->limits.h2_body_buffer_total;
#else
    n += missing(warn, "buffered request bodies (limits.h2_body_buffer_per_connection, h2_body_buffer_total)");
#endif
#ifdef H2O_HAS_HTTP2_STREAM_RESET_HOOK
    gc->http2.on_stream_reset = on_stream_reset;
#else
    n += missing(warn, "stream resets (limits.h2_max_resets: Rapid Reset connections are not closed)");
#endif
    /* what h2o consumes of a request before the handler sees it (patches 0006-0009) */
#ifndef H2O_HAS_HTTP1_STRICT_FRAMING
    n += missing(warn, "HTTP/1.1 framing (two Host, Content-Length or Transfer-Encoding headers, CL.TE: not refused)");
#endif
#ifndef H2O_HAS_HTTP2_HOST_AUTHORITY_CHECK
    n += missing(warn, "HTTP/2 host against :authority (a host that disagrees is ignored, not refused)");
#endif
#ifndef H2O_HAS_REQUEST_TRAILERS
    n += missing(warn, "HTTP/2 trailers (merged into the header section the gateway decides on)");
#endif
#ifdef H2O_HAS_HTTP1_EXPECT_CONTINUE_HOOK
    gc->http1.on_expect_continue = dom__expect_continue;
#else
    n += missing(warn, "Expect: 100-continue (100 Continue is sent before the decision)");
#endif
    return n;
}

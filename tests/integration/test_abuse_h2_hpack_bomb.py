#!/usr/bin/env python3
"""HPACK bomb against the gateway (patches/0001-http2-header-list-limit.patch).

One 4,000-byte header is inserted into the server's HPACK dynamic table and then referenced
by one-byte indexed fields: a 104 KB header block decodes to ~100,000 copies of it (400 MB),
a 404 KB block to 1.6 GB. The client is routed (a trusted proxy's X-Forwarded-For names a DE
address), so without a bound the gateway would build that request head for a backend (measured
on Debian's unpatched libh2o: +923 MB RSS for the 104 KB block, 3.8 GB for the 404 KB one).

Asserted: each block is answered with 431 or a connection error; the gateway's peak RSS grows
by less than 16 MB over all the bombs; nothing reaches a backend; a legitimate h2load client
running meanwhile keeps > 99 % success; the server advertises SETTINGS_MAX_HEADER_LIST_SIZE;
101 headers or one 70 KB header get 431 too, while 150 cookie crumbs (one Cookie header on
HTTP/1.1) and a request near the limit are routed. Figures are printed as `# FIGURE ...`."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import h2raw  # noqa: E402
import hardening as X  # noqa: E402
import harness as H  # noqa: E402

VALUE = 4000  # one header of 4,000 bytes in the dynamic table (its capacity is 4,096)
RSS_GROWTH_MAX_KIB = 16 * 1024


def bomb(port, path, xff, n_refs):
    """Sends one bombing header block on a fresh connection; returns (connection, block bytes, frames)."""
    c = h2raw.H2Conn("127.0.0.1", port, timeout=10)
    c.pump(until=lambda c: h2raw.SETTINGS_MAX_CONCURRENT_STREAMS in c.server_settings or c.closed, timeout=5)
    block = c.pseudo_headers("GET", path) + h2raw.encode_headers([("x-forwarded-for", xff)])
    block += h2raw.hpack_literal_indexed("x-bomb", "b" * VALUE)  # dynamic table index 62
    block += h2raw.hpack_indexed(62) * n_refs
    sid, frames, n_frames = c.header_block_frames(block, end_stream=True)
    c.send(frames)
    c.pump(until=lambda c: c.done(sid) or c.closed or c.goaway is not None, timeout=30)
    return c, sid, len(block), n_frames


def outcome(c, sid):
    st = c.streams[sid]
    if st.status is not None:
        return "status %d" % st.status
    if c.goaway is not None:
        return "GOAWAY %s" % h2raw.error_name(c.goaway[1])
    if st.rst_code is not None:
        return "RST_STREAM %s" % h2raw.error_name(st.rst_code)
    return "closed" if c.closed else "no answer"


def one_request(t, port, label, headers_block_extra, want_status, xff, tag):
    c = h2raw.H2Conn("127.0.0.1", port, timeout=10)
    path = "/v1/sync/%s-%s" % (tag, H.uid())
    block = c.pseudo_headers("GET", path) + h2raw.encode_headers([("x-forwarded-for", xff)]) + headers_block_extra
    sid, frames, _ = c.header_block_frames(block, end_stream=True)
    c.send(frames)
    c.pump(until=lambda c: c.done(sid) or c.closed, timeout=15)
    st = c.streams[sid]
    if want_status == 431:  # the library's HTTP/2 layer (plain text) or the gateway (JSON), never a backend's
        who = b"request header fields too large" if "library" in label else b'"reason":"header_fields_too_large"'
        t.ok(st.status == 431 and who in st.data, "%s: 431 from the gateway" % label, (st, bytes(st.data[:200])))
    else:
        t.eq(st.status, want_status, "%s: %s" % (label, want_status))
    c.close()
    return path


def main(t):
    H.require_tools("h2load")
    d, backends, gw = X.small_gateway(t, threads=1, listeners=("clear",))
    pid = gw.proc.pid
    port = gw.listener("clear")[1]
    de = H.geo_addr("DE")
    tag = "bomb-" + H.uid()
    X.still_serves(t, gw, backends, "before the bombs")

    c = h2raw.H2Conn("127.0.0.1", port, timeout=10)
    c.pump(until=lambda c: h2raw.SETTINGS_MAX_HEADER_LIST_SIZE in c.server_settings or c.closed, timeout=5)
    t.eq(c.server_settings.get(h2raw.SETTINGS_MAX_HEADER_LIST_SIZE), 131072,
         "the server advertises SETTINGS_MAX_HEADER_LIST_SIZE 131072 (limits.h2_max_header_list_size)")
    c.close()

    # requests around the limits: cookie crumbs count as one header, like HTTP/1.1's one Cookie line
    crumbs = h2raw.encode_headers([("cookie", "c%d=v%d" % (i, i)) for i in range(150)])
    one_request(t, port, "150 cookie crumbs are one header: routed", crumbs, 200, de, tag + "-ok")
    near = h2raw.encode_headers([("x-pad-%d" % i, "p" * 800) for i in range(60)])
    one_request(t, port, "60 headers of 800 bytes (50 KiB of header list): routed", near, 200, de, tag + "-ok")
    many = h2raw.encode_headers([("x-h-%d" % i, "v") for i in range(101)])
    one_request(t, port, "101 headers (the gateway's limits.max_headers 100, JSON)", many, 431, de, tag + "-no")
    big = h2raw.encode_headers([("x-big", "v" * 70000)])
    one_request(t, port, "one 70,000-byte header (the gateway's limits.max_header_bytes 64 KiB, JSON)", big, 431, de,
                tag + "-no")
    many = h2raw.encode_headers([("x-h-%d" % i, "v") for i in range(201)])
    one_request(t, port, "201 headers (the library's limits.h2_max_headers 200)", many, 431, de, tag + "-no")
    big = h2raw.encode_headers([("x-big", "v" * 140000)])
    one_request(t, port, "one 140,000-byte header (the library's limits.h2_max_header_list_size 128 KiB)", big, 431,
                de, tag + "-no")

    load = X.BackgroundLoad("http://127.0.0.1:%d/v1/sync/legit-%s" % (port, H.uid()), 8,
                            headers={"x-forwarded-for": de}).start()
    H.wait_until(lambda: X.cpu_seconds(pid) > 0, 5)  # (the load is connecting)
    rss0 = X.reset_peak_rss(pid)
    cpu0 = X.cpu_seconds(pid)
    results = []
    for n_refs, label in ((100000, "104KB"), (400000, "404KB")):
        for i in range(3):
            path = "/v1/sync/%s-no-%s-%d" % (tag, label, i)
            bc, sid, size, n_frames = bomb(port, path, de, n_refs)
            out = outcome(bc, sid)
            results.append((label, size, n_frames, out))
            t.ok(out in ("status 431", "GOAWAY ENHANCE_YOUR_CALM", "GOAWAY COMPRESSION_ERROR", "GOAWAY PROTOCOL_ERROR"),
                 "%s block #%d (%d bytes, %d frames): 431 or a connection error" % (label, i + 1, size, n_frames),
                 out)
            bc.close()
    cpu_bombs = X.cpu_seconds(pid) - cpu0
    growth = X.peak_rss_kib(pid) - rss0
    load.stop()
    for label in ("104KB", "404KB"):
        r = [x for x in results if x[0] == label]
        t.note("FIGURE hpack_bomb.%s = %d-byte block in %d frames: %s" % (label, r[0][1], r[0][2],
                                                                          ", ".join(sorted({x[3] for x in r}))))
    t.note("FIGURE hpack_bomb.peak_rss_growth_kib = %d over 6 bombs (RSS before %d KiB)" % (growth, rss0))
    t.note("FIGURE hpack_bomb.cpu_s = %.2f for 6 bombs" % cpu_bombs)
    t.note("FIGURE hpack_bomb.legit_h2load = %s" % load.summary())
    t.ok(X.SANITIZED or growth < RSS_GROWTH_MAX_KIB,
         "the gateway's peak RSS grows by less than 16 MB (%d KiB%s)" % (growth, ", sanitizer build: not asserted"
                                                                          if X.SANITIZED else ""))
    t.ok(load.error is None and load.requests > 0 and load.success_ratio > 0.99,
         "a legitimate h2load client meanwhile keeps > 99 %% success (%s)" % load.summary(), load.error)
    reached = [r["path"] for r in H.all_records(backends) if r["path"].startswith("/v1/sync/%s-no-" % tag)]
    t.eq(reached, [], "no bomb and no oversized request reaches a backend")
    t.eq(len([r for r in H.all_records(backends) if r["path"].startswith("/v1/sync/%s-ok-" % tag)]), 2,
         "the two requests within the limits reached a backend")
    X.still_serves(t, gw, backends, "after the bombs")
    gw.signal(15)
    gw.wait_exit(10)


if __name__ == "__main__":
    H.run_test("abuse_h2_hpack_bomb", main, timeout=150)

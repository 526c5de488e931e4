#!/usr/bin/env python3
"""Hostile headers and bodies.

- Spoofing from an untrusted peer (only 127.0.0.2 is trusted; the client is 127.0.0.1):
  X-Forwarded-For / Forwarded / X-Real-IP naming a CN address and 50 forged
  X-Domicile-* / X-Residency-* headers naming another jurisdiction and region change
  nothing: the write is decided for the peer (an unknown location: the default rule's
  r-beta) and no forged value reaches the backend.
- Oversized header blocks: HTTP/1.1 (one 64 KiB header; 300 headers) and HTTP/2 (a 256 KiB
  header block in HEADERS + CONTINUATION frames): refused (4xx, a reset or a closed
  connection), no backend stores them, the gateway keeps serving. Each figure says whose answer
  the client got. Measured before the gateway bounds header blocks itself (issue 16, item 1):
  300 HTTP/1.1 headers are h2o's own 400 (its parser takes at most 100), but the 64 KiB header
  and the 256 KiB HTTP/2 block are decided and forwarded, and the 431 is the recording backend's
  (Python's http.server: 65,536 bytes per line, 100 headers), not the gateway's.
- Oversized bodies (8 MiB over a 1 MiB max_body): 413 over HTTP/1.1, RST_STREAM over HTTP/2,
  also when the client sends no content-length; nothing reaches a backend."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import h2raw  # noqa: E402
import hardening as X  # noqa: E402
import harness as H  # noqa: E402


def raw_h1(port, req, timeout=10):
    try:
        return H.http1_raw("127.0.0.1", port, req, timeout=timeout)
    except OSError as e:
        return H.Response(0, [], b"", error=str(e))


def who_answered(status, body, forwarded=None):
    """Whose answer a client got: the gateway's JSON refusal, h2o's own text, or the backend's answer
    that the gateway forwarded (the recording backend is Python's http.server, whose error page is HTML;
    over HTTP/1.1 the gateway also marks a proxied answer with domicile-region)."""
    if status == 0 or status is None:
        return "no answer"
    if forwarded or b"<title>Error response</title>" in body:
        return "the backend (forwarded by the gateway)"
    if body.startswith(b"{") and b'"reason"' in body:
        return "the gateway"
    return "h2o"


def main(t):
    H.require_tools("curl")
    d, backends, gw = X.small_gateway(t, threads=1, trusted=("127.0.0.2/32",))
    clear = gw.listener("clear")[1]
    cn = H.geo_addr("CN")

    # --- spoofing from an untrusted peer
    for proto in ("h1c", "h2c"):
        path = "/v1/sync/spoof-%s-%s" % (proto, H.uid())
        hdrs = {"X-Forwarded-For": cn, "Forwarded": "for=%s;proto=https" % cn, "X-Real-IP": cn,
                "X-Domicile-Jurisdiction": "T-CN", "X-Domicile-Region": "r-gamma", "X-Domicile-Class": "telemetry",
                "X-Residency-Pin": "forged"}
        for i in range(50):
            hdrs["X-Domicile-Forged-%d" % i] = "r-gamma"
        r = H.curl(clear, path, "PUT", hdrs, b"s" * 32, proto=proto)
        recs = [x for x in H.all_records(backends) if x["path"] == path]
        t.ok(r.status == 200 and len(recs) == 1 and recs[0]["region"] == "r-beta",
             "%s: spoofed forwarding headers from an untrusted peer change nothing (default rule → r-beta)" % proto,
             (r, recs))
        if recs:
            h = recs[0]["headers"]
            t.eq(h.get("x-domicile-jurisdiction"), "T-DEFAULT", "%s: upstream jurisdiction is the gateway's" % proto)
            t.eq(h.get("x-forwarded-for"), "127.0.0.1",
                 "%s: upstream X-Forwarded-For is the peer, not the claim" % proto)
            leaked = sorted(k for k, v in h.items() if ("forged" in k or "r-gamma" in v or cn in v or "T-CN" in v))
            t.eq(leaked, [], "%s: no forged value reaches the backend" % proto)

    # --- oversized header blocks over HTTP/1.1
    for label, extra in (("one 64 KiB header", "X-Big: %s\r\n" % ("a" * 65536)),
                         ("300 headers", "".join("X-H%d: v\r\n" % i for i in range(300)))):
        path = "/v1/sync/bighdr-%s" % H.uid()
        req = ("PUT %s HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n%s\r\nx" % (path, extra)).encode()
        r = raw_h1(clear, req)
        t.ok(r.status == 0 or 400 <= r.status < 500, "HTTP/1.1 %s: refused (4xx or closed)" % label, r)
        t.eq(len(X.records_with(backends, path)), 0, "HTTP/1.1 %s: no backend stores it" % label)
        who = who_answered(r.status, r.body, r.header("domicile-region") is not None)
        t.note("FIGURE headers.h1_%s = %s from %s" % (label.replace(" ", "_"), r.status or ("closed: %s" % r.error),
                                                       who))

    # --- an oversized header block over HTTP/2: HEADERS + CONTINUATIONs, 256 KiB
    c = h2raw.H2Conn("127.0.0.1", clear)
    path = "/v1/sync/bighdr2-%s" % H.uid()
    pairs = [(":method", "PUT"), (":scheme", "http"), (":authority", "x"), (":path", path)]
    pairs += [("x-big-%d" % i, "b" * 1000) for i in range(256)]
    block = h2raw.encode_headers(pairs)
    sid = c.next_sid
    c.next_sid += 2
    c.streams[sid] = h2raw.Stream(sid)
    frames = []
    chunks = [block[i:i + 16384] for i in range(0, len(block), 16384)]
    for i, ch in enumerate(chunks):
        last = i == len(chunks) - 1
        ftype = h2raw.HEADERS if i == 0 else h2raw.CONTINUATION
        frames.append(c.frame(ftype, (h2raw.END_HEADERS if last else 0) | (h2raw.END_STREAM if i == 0 else 0),
                              sid, ch))
    c.send(b"".join(frames))
    c.pump(until=lambda c: c.done(sid) or c.closed or c.goaway is not None, timeout=10)
    st = c.streams[sid]
    outcome = "status %s, rst %s, goaway %s, closed %s" % (st.status, st.rst_code, c.goaway, c.closed)
    t.ok((st.status is not None and 400 <= st.status < 500) or st.rst_code is not None or c.closed
         or c.goaway is not None, "HTTP/2 256 KiB header block: refused (4xx, a reset or a closed connection)", outcome)
    t.eq(len(X.records_with(backends, path)), 0, "HTTP/2 256 KiB header block: no backend stores it")
    t.note("FIGURE headers.h2_256KiB_block = %s, answer from %s" % (outcome, who_answered(st.status, bytes(st.data))))
    c.close()
    t.ok(gw.proc.poll() is None, "the gateway survives oversized header blocks")

    # --- oversized bodies (max_body 1m)
    big = os.urandom(8 * 1024 * 1024)
    for proto in ("h1c", "h2c"):
        path = "/v1/sync/bigbody-%s-%s" % (proto, H.uid())
        r = H.curl(clear, path, "PUT", {"X-Forwarded-For": H.geo_addr("DE")}, big, proto=proto, timeout=20)
        t.ok(r.status == 413 or (proto == "h2c" and r.status == 0 and r.error),
             "%s 8 MiB body: 413 (HTTP/1.1) or a reset stream (HTTP/2)" % proto, r)
        t.eq(len(X.records_with(backends, path)), 0, "%s 8 MiB body: nothing reaches a backend" % proto)
        t.note("FIGURE bodies.%s_8MiB = %s" % (proto, r.status or r.error))
    # HTTP/2 without content-length: DATA frames past the limit
    c = h2raw.H2Conn("127.0.0.1", clear)
    path = "/v1/sync/bigbody-nocl-%s" % H.uid()
    sid, f = c.headers_frame("PUT", path, {"x-forwarded-for": H.geo_addr("DE")}, end_stream=False)
    c.send(f)
    sent = 0
    while sent < 2 * 1024 * 1024 and not c.done(sid) and not c.closed:
        c.send(c.frame(h2raw.DATA, 0, sid, b"d" * 16384))
        sent += 16384
        c.pump(timeout=0.001)
    c.send(c.frame(h2raw.DATA, h2raw.END_STREAM, sid, b""))
    c.pump(until=lambda c: c.done(sid) or c.closed, timeout=10)
    st = c.streams[sid]
    t.ok(st.rst_code is not None or (st.status or 0) == 413 or c.closed,
         "HTTP/2 body without content-length past max_body: reset or 413", st)
    t.note("FIGURE bodies.h2_no_content_length = reset %s after %d KiB sent" %
           (None if st.rst_code is None else h2raw.error_name(st.rst_code), sent // 1024))
    t.eq(len(X.records_with(backends, path)), 0, "HTTP/2 body without content-length: nothing reaches a backend")
    c.close()
    X.still_serves(t, gw, backends, "after hostile headers and bodies", proto="h1c")


if __name__ == "__main__":
    H.run_test("abuse_headers", main, timeout=120)

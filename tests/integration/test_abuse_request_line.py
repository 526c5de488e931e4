#!/usr/bin/env python3
"""Request-line and header confusion, as an attacker sends it (raw HTTP/2 frames, raw HTTP/1.1).

Every probe comes from a client the rules route (DE, through a trusted proxy), so a probe that
got through would be stored. A table: each probe, the status the gateway answered and what the
backends received; every refused probe reached no backend. The gateway decides on what it
forwards: a method that is not a token, a :path with spaces, tabs, "*" or nothing, an empty
header name, more header fields or bytes than the bounds, CONNECT and TRACE are refused with the
one JSON refusal shape before anything is decided; URL-override headers (X-Original-URL,
X-Rewrite-URL, X-HTTP-Method-Override) are stripped from a request that is forwarded.

What only libh2o can refuse, because it consumes the fields before any handler runs (patches
0006-0009): over HTTP/1.1 two Host headers, two Content-Length or Transfer-Encoding lines, a
Content-Length list and Content-Length with Transfer-Encoding get 400 and the connection is closed
(a pipelined request hidden behind "Content-Length: 3" + "Content-Length: 40" is never stored);
over HTTP/2 a host field that disagrees with :authority gets 400; a trailer section never counts
as headers (the trailer-XFF case decides on the header value and forwards no trailer unless
`forward_trailers` says so); and a request with "Expect: 100-continue" is decided before its body:
a refused one gets its 451/403 instead of 100 Continue (recorded in the audit log like any other
refusal), an allowed one gets 100 and is stored.
"""
import json
import os
import socket
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import h2raw  # noqa: E402
import hardening as X  # noqa: E402
import harness as H  # noqa: E402


def h2_probe(port, pairs, body=None, trailers=None):
    """One request from raw header pairs (pseudo-headers as given), its body and a trailer section (HEADERS after
    DATA) when given; returns (status or reset text, body)."""
    c = h2raw.H2Conn("127.0.0.1", port)
    try:
        sid = c.next_sid
        c.next_sid += 2
        c.streams[sid] = h2raw.Stream(sid)
        block = h2raw.encode_headers(pairs)
        chunks = [block[i:i + 16000] for i in range(0, len(block), 16000)] or [b""]
        out = b""
        for i, ch in enumerate(chunks):
            last = i == len(chunks) - 1
            flags = (h2raw.END_HEADERS if last else 0) | (h2raw.END_STREAM if (i == 0 and body is None) else 0)
            out += c.frame(h2raw.HEADERS if i == 0 else h2raw.CONTINUATION, flags, sid, ch)
        if body is not None:
            out += c.data_frames(sid, body, end_stream=trailers is None)
        if trailers is not None:
            out += c.frame(h2raw.HEADERS, h2raw.END_HEADERS | h2raw.END_STREAM, sid, h2raw.encode_headers(trailers))
        c.send(out)
        c.pump(until=lambda c: c.closed or c.goaway is not None or c.done(sid), timeout=10)
        s = c.streams[sid]
        if s.status is not None:
            return s.status, bytes(s.data)
        if s.rst_code is not None:
            return "RST_STREAM(%s)" % h2raw.error_name(s.rst_code), b""
        if c.goaway is not None:
            return "GOAWAY(%s)" % h2raw.error_name(c.goaway[1]), b""
        return "closed", b""
    finally:
        c.close()


def parse_responses(buf):
    """Complete HTTP/1.1 responses at the start of buf (Content-Length or chunked bodies): ([Response], rest)."""
    out = []
    while b"\r\n\r\n" in buf:
        head, _, rest = buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        hdrs = [(k.strip().lower(), v.strip()) for k, v in (ln.split(":", 1) for ln in lines[1:] if ":" in ln)]
        r = H.Response(int(lines[0].split()[1]), hdrs, b"", lines[0].split()[0][5:])
        if r.header("transfer-encoding", "").lower() == "chunked":
            body, at = b"", 0
            while True:
                eol = rest.find(b"\r\n", at)
                if eol < 0:
                    return out, buf
                size = int(rest[at:eol].split(b";")[0] or b"0", 16)
                if len(rest) < eol + 2 + size + 2:
                    return out, buf
                body += rest[eol + 2:eol + 2 + size]
                at = eol + 2 + size + 2
                if size == 0:
                    break
            r.body, buf = body, rest[at:]
        else:
            n = int(r.header("content-length", "0"))
            if len(rest) < n:
                return out, buf
            r.body, buf = rest[:n], rest[n:]
        out.append(r)
    return out, buf


def h1_conversation(port, data, wait=3.0):
    """Sends raw HTTP/1.1 bytes on one connection and reads every response until the server closes it or is
    silent for `wait` seconds. Returns ([Response], closed): closed is True when the server closed the connection."""
    s = socket.create_connection(("127.0.0.1", port), timeout=wait)
    buf, closed = b"", False
    try:
        s.sendall(data)
        while True:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                closed = True
                break
            if not chunk:
                closed = True
                break
            buf += chunk
    finally:
        s.close()
    return parse_responses(buf)[0], closed


def expect_exchange(port, head, body):
    """HTTP/1.1 with "Expect: 100-continue" as a client does it: sends the header section only and waits for the
    server's first answer; sends the body only after "100 Continue". Returns (first status, final Response or None,
    seconds to the first answer)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        t0 = time.monotonic()
        s.sendall(head)
        peek = b""
        while b"\r\n\r\n" not in peek:  # peeked: a final answer is read whole by read_response below
            more = s.recv(65536, socket.MSG_PEEK)
            if len(more) == len(peek):
                if not more or time.monotonic() - t0 > 10:
                    return 0, None, time.monotonic() - t0
                time.sleep(0.01)
            peek = more
        took = time.monotonic() - t0
        if not peek.startswith(b"HTTP/1.1 100"):
            r = H.read_response(s)
            return r.status, r, took
        s.recv(peek.index(b"\r\n\r\n") + 4)
        s.sendall(body)
        return 100, H.read_response(s), took
    finally:
        s.close()


def audit_lines(path, request_id, timeout=5):
    """The audit lines that name request_id (the audit writer flushes every 100 ms: polled, bounded)."""
    deadline = time.monotonic() + timeout
    while True:
        found = []
        try:
            with open(path) as f:
                found = [json.loads(ln) for ln in f if request_id and request_id in ln]
        except OSError:
            pass
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def reason_of(body):
    try:
        return json.loads(body.decode()).get("reason")
    except (ValueError, UnicodeDecodeError, AttributeError):
        return None


def main(t):
    d = H.tmpdir()
    audit = os.path.join(d, "audit.log")
    d, backends, gw = X.small_gateway(t, threads=1, trusted=("127.0.0.0/8",), d=d, extra={"audit": {"path": audit}})
    clear = gw.listener("clear")[1]
    de, cn = H.geo_addr("DE"), H.geo_addr("CN")
    auth = "127.0.0.1:%d" % clear
    table = []

    def base(method, path, extra=()):
        return [(":method", method), (":scheme", "http"), (":authority", auth), (":path", path),
                ("x-forwarded-for", de)] + list(extra)

    def check(label, got, body, want_status, want_reason, marker):
        recs = X.records_with(backends, marker)
        table.append((label, got, reason_of(body), len(recs)))
        ok = got == want_status and (want_reason is None or reason_of(body) == want_reason)
        t.ok(ok, "%s: %s %s" % (label, want_status, want_reason or ""), (got, body[:300]))
        t.eq(recs, [], "%s: nothing reached a backend" % label)

    # --- HTTP/2: the decision and the request line must be the same request
    m = "m-%s" % H.uid()
    got, body = h2_probe(clear, base("POST /v1/account/%s" % m, "/v1/crash/%s" % m), body=b"x")
    check(":method 'POST /v1/account/x' with :path /v1/crash/x", got, body, 400, "invalid_method", m)
    m = "m-%s" % H.uid()
    got, body = h2_probe(clear, base("PUT\t", "/v1/sync/%s" % m), body=b"x")
    check(":method with a tab", got, body, 400, "invalid_method", m)
    for label, path in (("SP", "/v1/sync/%s x"), ("TAB", "/v1/sync/%s\tx"), ("'*'", "*"), ("empty", ""),
                        ("absolute-form", "http://example.com/v1/sync/%s")):
        m = "p-%s" % H.uid()
        got, body = h2_probe(clear, base("PUT", path % m if "%s" in path else path), body=b"x")
        if label == "empty" and isinstance(got, str):
            # h2o refuses a stream without a :path value at the framing level: nothing is decided or sent
            table.append((":path %s" % label, got, None, len(X.records_with(backends, m))))
            t.ok(got.startswith(("RST_STREAM", "GOAWAY")), ":path empty: refused by h2o", got)
            continue
        check(":path %s" % label, got, body, 400, "non_canonical_path", m)
    m = "e-%s" % H.uid()
    got, body = h2_probe(clear, base("PUT", "/v1/sync/%s" % m, [("", "yes")]), body=b"x")
    check("an empty header name", got, body, 400, "invalid_header", m)
    m = "n-%s" % H.uid()
    got, body = h2_probe(clear, base("PUT", "/v1/sync/%s" % m, [("x-h%d" % i, "v") for i in range(101)]), body=b"x")
    check("101 header fields (HTTP/2 has no count limit of its own)", got, body, 431, "header_fields_too_large", m)
    m = "b-%s" % H.uid()
    got, body = h2_probe(clear, base("PUT", "/v1/sync/%s" % m, [("x-big", "a" * 70000)]), body=b"x")
    check("70,000 bytes in one header value", got, body, 431, "header_fields_too_large", m)
    m = "t-%s" % H.uid()
    got, body = h2_probe(clear, base("TRACE", "/v1/sync/%s" % m))
    check("TRACE", got, body, 405, "method_not_allowed", m)

    # --- HTTP/1.1
    m = "c-%s" % H.uid()
    r = H.http1_raw("127.0.0.1", clear, ("CONNECT %s.example:22 HTTP/1.1\r\nHost: %s.example:22\r\n"
                                         "X-Forwarded-For: %s\r\n\r\n" % (m, m, de)).encode())
    check("CONNECT host:22", r.status, r.body, 405, "method_not_allowed", m)
    m = "r-%s" % H.uid()
    r = H.http1_raw("127.0.0.1", clear, ("POST /v1/account/%s /v1/crash/%s HTTP/1.1\r\nHost: x\r\n"
                                         "X-Forwarded-For: %s\r\nContent-Length: 1\r\n\r\nx" % (m, m, de)).encode())
    table.append(("request line 'POST /a /b HTTP/1.1'", r.status, reason_of(r.body), len(X.records_with(backends, m))))
    t.eq(r.status, 400, "request line with two targets: 400")
    t.eq(X.records_with(backends, m), [], "request line with two targets: nothing reached a backend")
    m = "f-%s" % H.uid()
    r = H.http1_raw("127.0.0.1", clear, ("PUT /v1/sync/%s HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: %s\r\n"
                                         "X-Note: a\r\n folded\r\nContent-Length: 1\r\n\r\nx" % (m, de)).encode())
    table.append(("obs-fold header line", r.status, reason_of(r.body), len(X.records_with(backends, m))))
    t.ok(r.status == 400, "obs-fold: 400 (an obs-fold line is not forwarded as an empty-name header)", r)
    t.eq(X.records_with(backends, m), [], "obs-fold: nothing reached a backend")

    # --- HTTP/1.1 framing that only libh2o sees (patch 0006): 400 and the connection closed, nothing stored
    def h1_refused(label, m, request, extra_markers=()):
        rs, closed = h1_conversation(clear, request)
        recs = X.records_with(backends, m) + [r for x in extra_markers for r in X.records_with(backends, x)]
        got = ",".join(str(r.status) for r in rs) or "none"
        table.append((label, got + (" +close" if closed else " (kept open)"), None, len(recs)))
        t.ok([r.status for r in rs] == [400] and closed, "%s: 400 and the connection closed" % label, (got, closed))
        t.eq(recs, [], "%s: nothing reached a backend" % label)

    def h1_head(m, extra, method="PUT"):
        return ("%s /v1/sync/%s HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: %s\r\n%s\r\n" % (method, m, de, extra)).encode()

    m = "hh-%s" % H.uid()
    h1_refused("two Host headers", m, ("PUT /v1/sync/%s HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n"
                                       "X-Forwarded-For: %s\r\nContent-Length: 1\r\n\r\nx" % (m, de)).encode())
    # the smuggling attempt: a reader of the first Content-Length sees a 3-byte body and then a second request,
    # a reader of the second sees one request whose 40-byte body holds it
    def hidden_request():
        sm = "s%s" % H.uid()[:10]
        return sm, ("PUT /v1/sync/%s HTTP/1.1\r\n\r\n" % sm).encode()

    m, (sm, hidden) = "cl-%s" % H.uid(), hidden_request()
    t.eq(len(hidden), 37, "the hidden request is the 37 bytes after a 3-byte body")
    h1_refused("Content-Length 3 and 40, a request pipelined in the difference", m,
               h1_head(m, "Content-Length: 3\r\nContent-Length: 40\r\n") + b"abc" + hidden, extra_markers=(sm,))
    m = "c2-%s" % H.uid()
    h1_refused("Content-Length 3 twice", m, h1_head(m, "Content-Length: 3\r\nContent-Length: 3\r\n") + b"abc")
    m, (sm, hidden) = "cv-%s" % H.uid(), hidden_request()
    h1_refused("Content-Length list '3, 40'", m, h1_head(m, "Content-Length: 3, 40\r\n") + b"abc" + hidden,
               extra_markers=(sm,))
    m, (sm, hidden) = "ct-%s" % H.uid(), hidden_request()
    h1_refused("Content-Length + Transfer-Encoding (CL.TE)", m,
               h1_head(m, "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n") + b"0\r\n\r\n" + hidden,
               extra_markers=(sm,))
    m, (sm, hidden) = "tc-%s" % H.uid(), hidden_request()
    h1_refused("Transfer-Encoding + Content-Length (TE.CL)", m,
               h1_head(m, "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n") + b"0\r\n\r\n" + hidden,
               extra_markers=(sm,))
    m = "tt-%s" % H.uid()
    h1_refused("Transfer-Encoding twice", m,
               h1_head(m, "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n") + b"0\r\n\r\n")
    # the control: one Content-Length, a pipelined second request, both stored, the connection kept open
    m1, m2 = "ok1-%s" % H.uid(), "ok2-%s" % H.uid()
    rs, closed = h1_conversation(clear, h1_head(m1, "Content-Length: 3\r\n") + b"abc" +
                                 h1_head(m2, "Content-Length: 0\r\nConnection: close\r\n"))
    n = len(X.records_with(backends, m1)) + len(X.records_with(backends, m2))
    table.append(("(control) one Content-Length, two pipelined requests", ",".join(str(r.status) for r in rs), None, n))
    t.ok([r.status for r in rs] == [200, 200] and n == 2, "control: two pipelined requests stored",
         ([r.status for r in rs], closed, n))

    # --- HTTP/2 host against :authority (patch 0007)
    m = "ha-%s" % H.uid()
    got, body = h2_probe(clear, base("PUT", "/v1/sync/%s" % m, [("host", "other.example")]), body=b"x")
    table.append(("HTTP/2 host disagreeing with :authority", got, reason_of(body), len(X.records_with(backends, m))))
    t.eq(got, 400, "HTTP/2 host disagreeing with :authority: 400")
    t.eq(X.records_with(backends, m), [], "HTTP/2 host disagreeing with :authority: nothing reached a backend")
    m = "hb-%s" % H.uid()
    got, body = h2_probe(clear, base("PUT", "/v1/sync/%s" % m, [("host", auth.upper())]), body=b"x")
    n = len(X.records_with(backends, m))
    table.append(("(control) HTTP/2 host equal to :authority but for case", got, reason_of(body), n))
    t.ok(got == 200 and n == 1, "HTTP/2 host equal to :authority (case aside): routed", (got, n))

    # --- trailers never decide and are not forwarded (patch 0008): header XFF DE, trailer XFF CN
    def trailer_probe(label, port, want_note, trailers=(("x-forwarded-for", cn), ("x-trailer-note", "t"))):
        m = "tr-%s" % H.uid()
        got, body = h2_probe(port, base("PUT", "/v1/account/%s" % m), body=b"x" * 10, trailers=list(trailers))
        recs = X.records_with(backends, m)
        rec = recs[0] if len(recs) == 1 else {}
        hdrs = rec.get("headers", {})
        table.append((label, "%s -> %s" % (got, rec.get("region")), reason_of(body), len(recs)))
        t.ok(got == 200 and rec.get("region") == "r-alpha",
             "%s: decided on the header XFF (DE: r-alpha), not the trailer's (CN: r-gamma)" % label, (got, recs))
        t.eq(hdrs.get("x-forwarded-for"), de, "%s: the node gets the header's client address only" % label)
        t.eq("x-trailer-note" in hdrs, want_note, "%s: x-trailer-note forwarded: %s" % (label, want_note))
        t.ok("domicile-pin" not in hdrs and hdrs.get("x-domicile-region") in (None, "r-alpha"),
             "%s: no pin or decision header from a trailer reaches the node" % label, hdrs)

    trailer_probe("HTTP/2 trailer XFF CN after header XFF DE", clear, False)
    trailer_probe("HTTP/2 trailer domicile-pin (malformed) and X-Domicile-Region", clear, False,
                  (("domicile-pin", "x.y.z"), ("x-domicile-region", "r-gamma"), ("x-trailer-note", "t")))
    m = "t1-%s" % H.uid()
    rs, closed = h1_conversation(clear, ("PUT /v1/account/%s HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: %s\r\n"
                                         "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n1\r\nx\r\n0\r\n"
                                         "X-Forwarded-For: %s\r\nX-Trailer-Note: t\r\n\r\n" % (m, de, cn)).encode())
    recs = X.records_with(backends, m)
    table.append(("HTTP/1.1 chunked trailer XFF CN after header XFF DE", "%s -> %s" % (
        ",".join(str(r.status) for r in rs), recs[0]["region"] if recs else None), None, len(recs)))
    t.ok([r.status for r in rs] == [200] and len(recs) == 1 and recs[0]["region"] == "r-alpha"
         and "x-trailer-note" not in recs[0]["headers"],
         "HTTP/1.1 chunked trailers: decided on the header XFF, no trailer forwarded", ([r.status for r in rs], recs))

    # --- Expect: 100-continue decided before the body (patch 0009, src/gateway/expect.c)
    def expect_probe(label, method, path, client, want, extra=""):
        m = "x-%s" % H.uid()
        body = os.urandom(2000)
        head = ("%s %s%s HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: %s\r\nExpect: 100-continue\r\n%s"
                "Content-Length: %d\r\n\r\n" % (method, path, m, client, extra, len(body))).encode()
        first, final, took = expect_exchange(clear, head, body)
        recs = X.records_with(backends, m)
        fs = final.status if final is not None else None
        table.append((label, "%s%s (first answer after %.1f ms)" % ("100, " if first == 100 else "", fs, took * 1000),
                      reason_of(final.body) if final is not None else None, len(recs)))
        if want == 200:
            t.ok(first == 100 and fs == 200 and len(recs) == 1 and recs[0]["body_sha256"] == H.sha256(body),
                 "%s: 100 Continue, then the body is stored" % label, (first, fs, recs))
            return
        t.ok(first == want and fs == want, "%s: %d before the body, never 100 Continue" % (label, want), (first, final))
        t.eq(recs, [], "%s: nothing reached a backend" % label)
        t.eq(final.header("connection") if final is not None else None, "close", "%s: the connection closes" % label)
        rid = final.header("x-request-id") if final is not None else None
        lines = audit_lines(audit, rid)
        t.ok(len(lines) == 1 and lines[0].get("status") == want and lines[0].get("action") == "reject",
             "%s: recorded in the audit log like any refusal" % label, lines)

    expect_probe("Expect: 100-continue, refused (CN content write)", "PUT", "/v1/sync/", cn, 451)
    expect_probe("Expect: 100-continue, refused (marketing without consent)", "POST", "/v1/notifications/", de, 403)
    expect_probe("Expect: 100-continue, allowed (DE content write)", "PUT", "/v1/sync/", de, 200)

    # --- forward_trailers: true forwards the trailer fields as header fields, after the decision, without the
    # fields no client may send upstream (forwarding, decision, pin and consent headers)
    cfg2 = dict((k, v) for k, v in gw.config.items() if k != "audit")
    cfg2.update(listen=[{"address": "127.0.0.1:%d" % H.free_port()}], forward_trailers=True)
    gw2 = H.Gateway(d, cfg2, name="gateway-trailers").start()
    for label, trailers in (("trailer XFF CN, forward_trailers: true", (("x-forwarded-for", cn), ("x-trailer-note", "t"))),
                            ("trailer pin and X-Domicile-Region, forward_trailers: true",
                             (("domicile-pin", "x.y.z"), ("x-domicile-region", "r-gamma"), ("x-trailer-note", "t")))):
        trailer_probe(label, gw2.listener("clear")[1], True, trailers)

    # --- forwarded, with the override headers stripped
    m = "o-%s" % H.uid()
    r = H.curl(clear, "/v1/crash/%s" % m, method="PUT", body=b"x", proto="h2c",
               headers={"X-Forwarded-For": de, "X-Original-URL": "/v1/account/%s" % m,
                        "X-Rewrite-URL": "/v1/account/%s" % m, "X-HTTP-Method-Override": "DELETE"})
    recs = X.records_with(backends, m)
    table.append(("X-Original-URL / X-Rewrite-URL / X-HTTP-Method-Override", r.status, None, len(recs)))
    t.ok(r.status == 200 and len(recs) == 1, "override headers: the request is forwarded as classified", (r, recs))
    if recs:
        t.eq(sorted(k for k in recs[0]["headers"] if k in ("x-original-url", "x-rewrite-url",
                                                              "x-http-method-override")), [],
             "override headers: none reaches the backend")
        t.eq((recs[0]["path"], recs[0]["method"], recs[0]["headers"].get("x-domicile-class")),
             ("/v1/crash/%s" % m, "PUT", "telemetry"), "override headers: stored as decided")

    t.note("probe | answer | reason | backend records")
    for label, got, reason, n in table:
        t.note("%s | %s | %s | %d" % (label, got, reason, n))
    X.still_serves(t, gw, backends, "after the probes")


if __name__ == "__main__":
    H.run_test("abuse_request_line", main, timeout=120)
